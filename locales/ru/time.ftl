# Время для людей: месяцы в родительном падеже для дат («26 ноября, 14:05»)
# и названия часовых поясов, которые идут после времени
# («14:05 по московскому времени (UTC+3)»).

time-month-1 = января
time-month-2 = февраля
time-month-3 = марта
time-month-4 = апреля
time-month-5 = мая
time-month-6 = июня
time-month-7 = июля
time-month-8 = августа
time-month-9 = сентября
time-month-10 = октября
time-month-11 = ноября
time-month-12 = декабря

tz-europe-kaliningrad = по калининградскому времени
tz-europe-moscow = по московскому времени
tz-europe-samara = по самарскому времени
tz-asia-yekaterinburg = по екатеринбургскому времени
tz-asia-omsk = по омскому времени
tz-asia-novosibirsk = по новосибирскому времени
tz-asia-krasnoyarsk = по красноярскому времени
tz-asia-irkutsk = по иркутскому времени
tz-asia-yakutsk = по якутскому времени
tz-asia-vladivostok = по владивостокскому времени
tz-asia-magadan = по магаданскому времени
tz-asia-kamchatka = по камчатскому времени
tz-europe-minsk = по минскому времени
tz-europe-kyiv = по киевскому времени
tz-asia-almaty = по алматинскому времени
tz-asia-tashkent = по ташкентскому времени
tz-europe-london = по лондонскому времени
tz-central-europe = по центральноевропейскому времени

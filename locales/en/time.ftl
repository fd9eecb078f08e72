# Times shown to people: month names for dates ("26 November, 14:05") and
# time zone names, written to follow a time ("14:05 Moscow time (UTC+3)").

time-month-1 = January
time-month-2 = February
time-month-3 = March
time-month-4 = April
time-month-5 = May
time-month-6 = June
time-month-7 = July
time-month-8 = August
time-month-9 = September
time-month-10 = October
time-month-11 = November
time-month-12 = December

tz-europe-kaliningrad = Kaliningrad time
tz-europe-moscow = Moscow time
tz-europe-samara = Samara time
tz-asia-yekaterinburg = Yekaterinburg time
tz-asia-omsk = Omsk time
tz-asia-novosibirsk = Novosibirsk time
tz-asia-krasnoyarsk = Krasnoyarsk time
tz-asia-irkutsk = Irkutsk time
tz-asia-yakutsk = Yakutsk time
tz-asia-vladivostok = Vladivostok time
tz-asia-magadan = Magadan time
tz-asia-kamchatka = Kamchatka time
tz-europe-minsk = Minsk time
tz-europe-kyiv = Kyiv time
tz-asia-almaty = Almaty time
tz-asia-tashkent = Tashkent time
tz-europe-london = London time
tz-central-europe = Central European time

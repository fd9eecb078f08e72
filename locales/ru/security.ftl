# Уведомления о безопасности для аккаунтов Telegram, привязанных к аккаунту
# CRM, и экран «Моя безопасность».

security-signed-in = 🔐 Выполнен вход в ваш аккаунт CRM { $login } { $day ->
        [today] в { $time }
       *[other] { $time }
    }.
security-new-device = 🆕 В ваш аккаунт CRM { $login } вошли с нового устройства { $day ->
        [today] в { $time }
       *[other] { $time }
    }.
security-password-changed = 🔑 Пароль вашего аккаунта CRM { $login } изменён { $day ->
        [today] в { $time }
       *[other] { $time }
    }.
security-locked-until = 🔒 Ваш аккаунт CRM { $login } заблокирован после слишком многих неудачных попыток входа. Блокировка снимется сама в { $until }.
security-locked-permanently = 🔒 Ваш аккаунт CRM { $login } заблокирован после слишком многих неудачных попыток входа. Разблокировать его может только администратор.
security-ip = IP-адрес: { $ip }
security-device = Устройство: { $device }
security-not-you = Если это были не вы, нажмите «Это не я»: восстановление пароля для аккаунта остановится, и вы сможете рассказать поддержке, что произошло.

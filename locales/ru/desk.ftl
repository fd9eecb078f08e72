# Сторона группы поддержки (язык — SUPPORT_LANGUAGE).

desk-category-no_account = к номеру не привязан аккаунт
desk-category-lost_contact = нет доступа к почте или телефону
desk-category-lost_2fa = потеряно устройство 2FA
desk-category-locked = аккаунт заблокирован
desk-category-not_me = «Это не я»
desk-category-other = другое

desk-card-title = 🆘 <b>Обращение { $ticket }</b> · { $category }
desk-card-title-urgent = 🚨 <b>СРОЧНОЕ обращение { $ticket }</b> · { $category }
desk-card-user = 👤 { $user } · id <code>{ $id }</code> · { $language }
desk-card-user-email = почта аккаунта (ссылка «Это не я» из письма)
desk-card-verified = <b>Проверено ботом</b>
desk-card-phone = Телефон: <code>{ $phone }</code> (собственный номер пользователя в Telegram)
desk-card-phone-none = Телефон: не подтверждён
desk-card-account = Аккаунт: <code>{ $login }</code> · { $name } · { $company } · { $email }
desk-card-account-none = Аккаунт: не подтверждён
desk-card-lock-temporary = Блокировка: до { $until }, { $failures } { $failures ->
        [one] неудачный вход
        [few] неудачных входа
       *[many] неудачных входов
    }
desk-card-lock-permanent = Блокировка: бессрочная, с { $since }
desk-card-lock-blocked = Блокировка: установлена администратором, с { $since }
desk-card-lock-none = Блокировка: нет
desk-card-licence-ok = Подписка: действует
desk-card-licence-ended = Подписка: закончилась { $date }
desk-card-two-factor-on = 2FA: включена с { $since }, { $count ->
        [one] остался { $count } резервный код
        [few] осталось { $count } резервных кода
       *[many] осталось { $count } резервных кодов
    }
desk-card-two-factor-off = 2FA: выключена
desk-card-recovery-blocked = ⛔ Восстановление пароля запрещено с { $since } («Это не я»)
desk-card-claimed = <b>Со слов пользователя</b>
desk-card-claimed-login-found = Логин или e-mail: { $login } (совпадает с аккаунтом <code>{ $account }</code>)
desk-card-claimed-login-unknown = Логин или e-mail: { $login } (такого аккаунта нет)
desk-card-claimed-company = Компания: { $company }
desk-card-claimed-sign-in = Последний вход: { $claimed } · по данным CRM: { $real }
desk-card-not-given = не указано
desk-card-unknown = неизвестно
desk-card-description = Описание: { $text }
desk-card-description-continued = … (полный текст ниже)

desk-status-open = Статус: никто не взял
desk-status-taken = Статус: в работе — { $name }
desk-status-closed = Статус: закрыто — { $name }
desk-status-rejected = Статус: отклонено — { $name }. Причина: { $reason }
desk-status-rating = { " " }· оценка { $rating }/5
desk-status-unreachable = { " " }· ⚠️ пользователь заблокировал бота
desk-status-since = { " " }· открыто { $time }

desk-card-last-action = Последнее действие: { $action } — { $name }, { $time }
desk-action-take = взято в работу
desk-action-release = возвращено в очередь
desk-action-link = отправлена ссылка для сброса
desk-action-unlock = аккаунт разблокирован
desk-action-unblock = восстановление разрешено
desk-action-reset_2fa = 2FA отключена
desk-action-close = закрыто
desk-action-reject = отклонено

desk-button-take = 🙋 Взять
desk-button-release = ↩️ Вернуть в очередь
desk-button-send-link = 🔑 Отправить ссылку для сброса
desk-button-unlock = 🔓 Разблокировать
desk-button-lift-block = ✅ Разрешить восстановление
desk-button-reset-2fa = 📵 Сбросить 2FA
desk-button-close = ✅ Закрыть
desk-button-reject = ⛔ Отклонить

desk-user-wrote = 💬 { $ticket } · { $name }:
desk-user-edited = ✏️ { $ticket } · { $name } · исправленное сообщение:
desk-signature = <b>Поддержка:</b>

desk-notice-asked-again = ↪️ { $ticket }: пользователь снова обратился за помощью ({ $category }).
desk-notice-user-closed = ✅ { $ticket }: пользователь закрыл обращение.
desk-notice-user-reopened = ↩️ { $ticket }: пользователь возобновил обращение.
desk-notice-rated = ⭐ { $ticket }: оценка пользователя — { $rating }/5.
desk-notice-rating-comment = 💬 { $ticket }: комментарий пользователя к оценке: { $text }
desk-notice-user-unreachable = ⚠️ { $ticket }: пользователь заблокировал бота — ответы до него не дойдут, пока он сам не напишет снова.
desk-notice-link-sent = 🔑 { $ticket } · { $name }: ссылка для сброса пароля отправлена пользователю.
desk-notice-unknown = { $ticket }: событие, которое эта версия бота не умеет показывать.

desk-refused-foreign = Эта кнопка не относится к этому обращению.
desk-refused-not-staff = Это доступно только участникам группы поддержки.
desk-refused-not-admin = Это доступно только администраторам поддержки.
desk-taken-by = Это обращение уже в работе — { $name }.
desk-not-applicable = В текущем состоянии обращения это невозможно.
desk-two-factor-already-off = 2FA для этого аккаунта уже выключена — ничего не изменилось.
desk-link-needs-proof = Пользователь ещё не подтвердил, что это его аккаунт: попросите его выбрать в боте «Не помню пароль» — он получит код на почту.
desk-link-not-sent = Ссылка не отправлена: для аккаунта исчерпан лимит ссылок или запрещено восстановление. Причину пользователю сообщили.
desk-link-not-delivered = Не удалось доставить ссылку пользователю.
desk-reject-ask = { $name }, напишите причину отказа по обращению { $ticket } в ответ на это сообщение. Пользователь её увидит.
desk-ticket-not-open = Обращение { $ticket } уже закрыто — сообщение пользователю не отправлено.

desk-reminder = ⏰ Обращение { $ticket } ждёт уже { $minutes } мин, и его никто не взял.
desk-reminder-admins = Администраторы поддержки: { $admins }

desk-chat-id = ID этого чата: <code>{ $id }</code>. Укажите его в SUPPORT_CHAT_ID — и этот чат станет группой поддержки.
desk-tickets-title = <b>Открытые обращения (сначала старые)</b>
desk-tickets-none = Открытых обращений нет.
desk-find-title = <b>Обращения по этому логину</b>
desk-find-none = Обращений по этому логину нет.
desk-find-usage = Формат: /find ЛОГИН
desk-ticket-usage = Формат: /ticket 123
desk-ticket-unknown = Такого обращения нет.
desk-list-line = { $ticket } · { $category } · { $name } · { $age } · { $who }
desk-list-untaken = никто не взял
desk-list-closed = закрыто
desk-list-rejected = отклонено
desk-age = { $days ->
        [0] { $hours ->
                [0] { $minutes } мин
               *[other] { $hours } ч { $minutes } мин
            }
       *[other] { $days } дн. { $hours } ч
    }
desk-history-title = <b>История</b>
desk-history-user = пользователь

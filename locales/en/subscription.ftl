# "Subscription expired" in the bot: the company's subscription as the CRM has it.

subscription-ask-phone = I'll check your company's subscription. To confirm it's you, share your phone number with the button below.
subscription-unknown = The CRM has no end date on file for the subscription of { $company } (account { $login }).

    If the CRM says the subscription has expired, ask your company's CRM administrator or accounting to check the payment status.
subscription-active = The subscription of { $company } (account { $login }) is active through { $date }.

    If the CRM still says it has expired, try signing in again. If that doesn't help, contact your company's CRM administrator.
subscription-expired-since = The subscription of { $company } (account { $login }) ended on { $date }.

    • Check the payment status in your company's CRM account.
    • Ask your company's CRM administrator or accounting to renew the subscription.

    Access comes back as soon as the subscription is renewed.
button-notify-admins = Notify my company administrator
subscription-admins-notified = { $count ->
    [one] I've told your company's CRM administrator that you can't work because the subscription has ended.
   *[other] I've told { $count } of your company's CRM administrators that you can't work because the subscription has ended.
}
subscription-admins-already-notified = Your company's CRM administrators were already told today that the subscription has ended. You can remind them again tomorrow.
subscription-no-admin-reachable = None of your company's CRM administrators has connected to this bot yet, so I can't reach them from here.

    Tell your company's CRM administrator or accounting yourself: the subscription has ended and needs renewing.
subscription-not-lapsed = The CRM no longer shows the subscription as ended, so there is nothing to report. Try signing in to the CRM again.

# To a company's CRM administrators.
licence-admin-alert = An employee of { $company }, { $name } (account { $login }), can't work in the CRM: the company's subscription ended on { $date }.

    • Renew the subscription in the company's CRM account.
    • If you have already paid, check the payment status there: access comes back as soon as the payment is through.
licence-reminder = { $days ->
    [0] The CRM subscription of { $company } ends today, { $date }.
    [1] The CRM subscription of { $company } ends tomorrow, { $date }.
   *[other] The CRM subscription of { $company } ends in { $days } days, on { $date }.
}

    Renew it in time so your employees can keep working. The payment status is in the company's CRM account.

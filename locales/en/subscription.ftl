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

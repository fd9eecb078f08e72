# Why a new password was refused, and the rules shown on the reset page.

password-mismatch = The two passwords don't match. Please type the same password twice.
password-too-short = The password is too short: use at least { $min } { $min ->
        [one] character
       *[other] characters
    }.
password-too-long = The password is too long: use at most { $max } { $max ->
        [one] character
       *[other] characters
    }.
password-common = This password is on a list of common and leaked passwords, so it would be guessed first. Please choose another one: a few unrelated words work well.
password-contains-context = The password contains your login, name, e-mail, company name or the word “crm”. These are guessed first; please leave them out.
password-too-weak = This password is too easy to guess. Try a longer one, for example a few unrelated words.
password-rules = At least { $min } { $min ->
        [one] character
       *[other] characters
    } and at most { $max }. Any letters, digits, spaces and symbols will do: a few unrelated words work well. Don't use your login, name, e-mail or company name, and don't use a common password.

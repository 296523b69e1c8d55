//! The page shell every dashboard page shares: navigation, the CSRF token for the page's
//! actions, the stylesheet and script (both ours, embedded in the binary), and a toast region
//! screen readers announce.

use maud::{DOCTYPE, Markup, html};

pub const STYLE: &str = include_str!("assets/style.css");
pub const SCRIPT: &str = include_str!("assets/app.js");

/// The pages, in navigation order: (path, label).
const PAGES: [(&str, &str); 8] = [
    ("/ui/", "Overview"),
    ("/ui/requests", "Requests"),
    ("/ui/providers", "Providers"),
    ("/ui/accounts", "Accounts"),
    ("/ui/routing", "Routing"),
    ("/ui/keys", "Client keys"),
    ("/ui/settings", "Settings"),
    ("/ui/connect", "Connect"),
];

/// A whole page: `active` is the navigation entry it belongs to.
pub fn page(title: &str, active: &str, csrf: &str, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(csrf);
                title { (title) " · Switchyard" }
                link rel="stylesheet" href="/ui/assets/style.css";
                // No icon request (and no 404 in the console).
                link rel="icon" href="data:,";
            }
            body {
                nav aria-label="Main" {
                    div.brand { "Switchyard" }
                    @for (path, label) in PAGES {
                        @if path == active {
                            a href=(path) aria-current="page" { (label) }
                        } @else {
                            a href=(path) { (label) }
                        }
                    }
                    @if signed_in {
                        form method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                div id="toast" role="status" aria-live="polite" {}
                script src="/ui/assets/app.js" defer {}
            }
        }
    }
}

/// The sign-in page (no navigation: nothing behind it is reachable yet).
pub fn login(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · Switchyard" }
                link rel="stylesheet" href="/ui/assets/style.css";
                // No icon request (and no 404 in the console).
                link rel="icon" href="data:,";
            }
            body {
                main.login {
                    section {
                        h1 { "Switchyard" }
                        p.muted { "Sign in with the admin key (the value of the variable named by server.admin_key_env)." }
                        @if let Some(e) = error {
                            p.status-bad role="alert" { (e) }
                        }
                        form method="post" action="/ui/login" {
                            label for="key" { span { "Admin key" } }
                            input id="key" name="key" type="password" autocomplete="current-password" required autofocus;
                            " "
                            button type="submit" { "Sign in" }
                        }
                    }
                }
            }
        }
    }
}

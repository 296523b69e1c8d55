//! Connect: copy-paste setup for each client with this server's address, a client key and a
//! model filled in. The key typed here stays in the page (it is never sent or stored).

use std::sync::Arc;

use maud::{Markup, html};

use crate::request::resolve;
use crate::state::app::App;

/// (client, language class, template with {base}, {key} and {model}).
const SNIPPETS: [(&str, &str); 7] = [
    (
        "Claude Code",
        "export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={key}\nexport ANTHROPIC_MODEL={model}\nclaude",
    ),
    (
        "Codex CLI (~/.codex/config.toml)",
        "model = \"{model}\"\nmodel_provider = \"switchyard\"\n\n[model_providers.switchyard]\nname = \"Switchyard\"\nbase_url = \"{base}/v1\"\nenv_key = \"SWITCHYARD_KEY\"\nwire_api = \"responses\"\n\n# then: export SWITCHYARD_KEY={key}",
    ),
    (
        "Cursor (Settings → Models → OpenAI API key, override base URL)",
        "OpenAI API key: {key}\nOverride OpenAI Base URL: {base}/v1\nModel name: {model}",
    ),
    (
        "OpenAI SDK (Python)",
        "from openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}/v1\", api_key=\"{key}\")\nreply = client.chat.completions.create(\n    model=\"{model}\", messages=[{\"role\": \"user\", \"content\": \"Hello\"}]\n)\nprint(reply.choices[0].message.content)",
    ),
    (
        "Anthropic SDK (Python)",
        "from anthropic import Anthropic\n\nclient = Anthropic(base_url=\"{base}\", api_key=\"{key}\")\nreply = client.messages.create(\n    model=\"{model}\", max_tokens=1024, messages=[{\"role\": \"user\", \"content\": \"Hello\"}]\n)\nprint(reply.content[0].text)",
    ),
    (
        "Google Gen AI SDK (Python)",
        "from google import genai\n\nclient = genai.Client(api_key=\"{key}\", http_options={\"base_url\": \"{base}\"})\nreply = client.models.generate_content(model=\"{model}\", contents=\"Hello\")\nprint(reply.text)",
    ),
    (
        "curl",
        "curl {base}/v1/chat/completions \\\n  -H \"authorization: Bearer {key}\" -H \"content-type: application/json\" \\\n  -d '{\"model\": \"{model}\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'",
    ),
];

pub fn page(app: &Arc<App>, headers: &http::HeaderMap) -> Markup {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| app.snapshot().config.listen.to_string(), str::to_owned);
    let base = format!("http://{host}");
    let listed = resolve::list(&app.snapshot(), switchyard_hub::Format::OpenAi);
    let models: Vec<String> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    let first = models.first().cloned().unwrap_or_default();
    html! {
        form id="connect-form" aria-label="Values filled into the snippets" {
            label { span { "Server" } input name="base" value=(base) size="32"; }
            label { span { "Client key" } input name="key" type="password" placeholder=(if app.snapshot().config.client_keys.is_empty() { "any (no client keys configured)" } else { "your client key" }) size="32"; }
            label { span { "Model" }
                input name="model" value=(first) list="models" size="32";
                datalist id="models" { @for m in &models { option value=(m) {} } }
            }
        }
        @for (i, (title, template)) in SNIPPETS.iter().enumerate() {
            section {
                h2 { (title) }
                pre id=(format!("snippet-{i}")) data-template=(template) tabindex="0" { (template) }
                button.secondary type="button" data-copy=(format!("#snippet-{i}")) aria-label=(format!("Copy the {title} setup")) { "Copy" }
            }
        }
    }
}

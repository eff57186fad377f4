//! The prompt: the checkpoint's own chat template rendered with minijinja (as transformers
//! renders it with Jinja2: `trim_blocks`, `lstrip_blocks`, Python string methods), the image
//! placeholder expanded to the image's token count as the reference processor does, and the
//! checkpoint's tokenizer. For ECG-R1 the signal becomes `<|ecg_start|>`, one `<|ecg_pad|>` per
//! tower token and `<|ecg_end|>`, written into the first text part of the user turn.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::ModelError;
use super::config::ModelConfig;

/// Special tokens a Qwen2-VL prompt needs.
pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const VISION_START: &str = "<|vision_start|>";
pub const VISION_END: &str = "<|vision_end|>";
pub const IMAGE_PAD: &str = "<|image_pad|>";
/// ECG-R1's signal block (the tokens ECG-R1 added to Qwen's vocabulary).
pub const ECG_START: &str = "<|ecg_start|>";
pub const ECG_PAD: &str = "<|ecg_pad|>";
pub const ECG_END: &str = "<|ecg_end|>";

/// What goes into one user turn.
#[derive(Clone, Debug, Default)]
pub struct PromptInput<'a> {
    /// System message; `None` leaves it to the template (Qwen's default system prompt).
    pub system: Option<&'a str>,
    /// Clinical notes (may be empty).
    pub notes: &'a str,
    pub question: &'a str,
    /// Whether an image part comes before the text in the user content.
    pub with_image: bool,
    /// ECG tokens of the signal (the tower's token count, 101 in ECG-R1); 0 without a signal.
    pub ecg_tokens: usize,
}

impl PromptInput<'_> {
    /// The user's text part: notes, a blank line, the question (just the question without notes).
    pub fn user_text(&self) -> String {
        let notes = self.notes.trim();
        if notes.is_empty() {
            self.question.to_string()
        } else {
            format!("{notes}\n\n{}", self.question)
        }
    }

    /// The signal block: `<|ecg_start|>`, `ecg_tokens` × `<|ecg_pad|>`, `<|ecg_end|>`.
    pub fn ecg_block(&self) -> Option<String> {
        (self.ecg_tokens > 0)
            .then(|| format!("{ECG_START}{}{ECG_END}", ECG_PAD.repeat(self.ecg_tokens)))
    }

    /// The messages in Hugging Face form: the user content is the signal block (as a text part),
    /// the image part, then the notes and question; absent parts are left out.
    pub fn messages(&self) -> Value {
        let mut content = Vec::new();
        if let Some(block) = self.ecg_block() {
            content.push(json!({"type": "text", "text": block}));
        }
        if self.with_image {
            content.push(json!({"type": "image"}));
        }
        content.push(json!({"type": "text", "text": self.user_text()}));
        let mut messages = Vec::new();
        if let Some(system) = self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": content}));
        Value::Array(messages)
    }
}

/// Tokenizer plus chat template of a checkpoint.
pub struct ChatPrompt {
    tokenizer: Tokenizer,
    template: String,
    template_file: String,
    image_pad_id: u32,
}

impl std::fmt::Debug for ChatPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatPrompt")
            .field("template_file", &self.template_file)
            .field("image_pad_id", &self.image_pad_id)
            .finish_non_exhaustive()
    }
}

/// Finds the chat template: `chat_template.jinja`, `chat_template.json`, then
/// `tokenizer_config.json` (a string, or a list of named templates where "default" wins).
pub fn load_chat_template(dir: &Path) -> Result<(String, String), ModelError> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let t =
            std::fs::read_to_string(&jinja).map_err(|e| ModelError::file(&jinja, e.to_string()))?;
        return Ok((t, jinja.display().to_string()));
    }
    for name in [
        "chat_template.json",
        "processor_config.json",
        "tokenizer_config.json",
    ] {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| ModelError::file(&path, e.to_string()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::file(&path, format!("not valid JSON: {e}")))?;
        match v.get("chat_template") {
            Some(Value::String(s)) => return Ok((s.clone(), path.display().to_string())),
            Some(Value::Array(list)) => {
                let pick = list
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .or_else(|| list.first())
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str);
                if let Some(s) = pick {
                    return Ok((s.to_string(), path.display().to_string()));
                }
            }
            _ => {}
        }
    }
    Err(ModelError::file(
        dir,
        "no chat template (looked for chat_template.jinja, chat_template.json, processor_config.json and tokenizer_config.json)",
    ))
}

fn raise_exception(message: String) -> Result<String, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

impl ChatPrompt {
    /// Loads `tokenizer.json` and the chat template of a checkpoint and checks the special tokens
    /// the prompt needs are there with the ids `config.json` expects (for ECG-R1 also the three
    /// ECG tokens, the pad being `ecg_token_id`).
    pub fn load(dir: &Path, config: &ModelConfig) -> Result<Self, ModelError> {
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| ModelError::Tokenizer {
            file: tok_path.display().to_string(),
            problem: e.to_string(),
        })?;
        let file = tok_path.display().to_string();
        for special in [IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD] {
            if tokenizer.token_to_id(special).is_none() {
                return Err(ModelError::Tokenizer {
                    file,
                    problem: format!("lacks the special token {special}"),
                });
            }
        }
        let image_pad_id = tokenizer.token_to_id(IMAGE_PAD).unwrap_or(u32::MAX);
        if image_pad_id != config.image_token_id() {
            return Err(ModelError::Tokenizer {
                file,
                problem: format!(
                    "{IMAGE_PAD} is id {image_pad_id} but config.json's image_token_id is {}",
                    config.image_token_id()
                ),
            });
        }
        if let Some(ecg_id) = config.ecg_token_id() {
            for special in [ECG_START, ECG_PAD, ECG_END] {
                if tokenizer.token_to_id(special).is_none() {
                    return Err(ModelError::Tokenizer {
                        file,
                        problem: format!("lacks ECG-R1's special token {special}"),
                    });
                }
            }
            let pad = tokenizer.token_to_id(ECG_PAD).unwrap_or(u32::MAX);
            if pad != ecg_id {
                return Err(ModelError::Tokenizer {
                    file,
                    problem: format!(
                        "{ECG_PAD} is id {pad} but config.json's ecg_token_id is {ecg_id}"
                    ),
                });
            }
        }
        let (template, template_file) = load_chat_template(dir)?;
        Ok(Self {
            tokenizer,
            template,
            template_file,
            image_pad_id,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn template_file(&self) -> &str {
        &self.template_file
    }

    pub fn image_pad_id(&self) -> u32 {
        self.image_pad_id
    }

    /// Renders the chat template with the assistant turn opened.
    pub fn render(&self, input: &PromptInput<'_>) -> Result<String, ModelError> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        let tmpl = env.template_from_str(&self.template).map_err(|e| {
            ModelError::Prompt(format!("chat template {}: {e}", self.template_file))
        })?;
        let ctx = json!({
            "messages": input.messages(),
            "add_generation_prompt": true,
            "bos_token": "",
            "eos_token": IM_END,
        });
        tmpl.render(ctx)
            .map_err(|e| ModelError::Prompt(format!("rendering {}: {e}", self.template_file)))
    }

    /// Expands each image placeholder to `image_tokens[i]` copies (in order, as the reference
    /// processor does) and tokenises the result.
    pub fn encode(&self, rendered: &str, image_tokens: &[usize]) -> Result<Vec<u32>, ModelError> {
        let parts: Vec<&str> = rendered.split(IMAGE_PAD).collect();
        if parts.len() - 1 != image_tokens.len() {
            return Err(ModelError::Prompt(format!(
                "the rendered prompt has {} image placeholders for {} images",
                parts.len() - 1,
                image_tokens.len()
            )));
        }
        let mut text = String::with_capacity(
            rendered.len() + image_tokens.iter().sum::<usize>() * IMAGE_PAD.len(),
        );
        for (i, part) in parts.iter().enumerate() {
            text.push_str(part);
            if let Some(n) = image_tokens.get(i) {
                for _ in 0..*n {
                    text.push_str(IMAGE_PAD);
                }
            }
        }
        self.encode_text(&text)
    }

    /// Tokenises text as the reference tokenizer call does.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Prompt(format!("tokenising: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids to text, keeping special tokens (the trace shows exactly what was generated).
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| ModelError::Prompt(format!("decoding: {e}")))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_joins_notes_and_question_with_a_blank_line() {
        let p = PromptInput {
            system: Some("s"),
            notes: " chest pain ",
            question: "Ischemic?",
            with_image: true,
            ecg_tokens: 0,
        };
        assert_eq!(p.user_text(), "chest pain\n\nIschemic?");
        let m = p.messages();
        assert_eq!(m[1]["content"][0]["type"], "image");
        assert_eq!(m[1]["content"][1]["type"], "text");
        let bare = PromptInput {
            notes: "",
            question: "Q",
            ..p
        };
        assert_eq!(bare.user_text(), "Q");
        assert!(bare.ecg_block().is_none());
    }

    #[test]
    fn the_signal_block_comes_first_then_the_image_then_the_text() {
        let p = PromptInput {
            system: None,
            notes: "",
            question: "Q",
            with_image: true,
            ecg_tokens: 3,
        };
        let m = p.messages();
        let content = &m[0]["content"];
        assert_eq!(
            content[0]["text"],
            "<|ecg_start|><|ecg_pad|><|ecg_pad|><|ecg_pad|><|ecg_end|>"
        );
        assert_eq!(content[1]["type"], "image");
        assert_eq!(content[2]["text"], "Q");
        let signal_only = PromptInput {
            with_image: false,
            ..p
        };
        let content = &signal_only.messages()[0]["content"];
        assert_eq!(content.as_array().unwrap().len(), 2);
        assert_eq!(content[1]["text"], "Q");
    }
}

//! The JSON of OpenAI's `/v1/chat/completions` and `/v1/models`, as far as the workstation
//! speaks it: what the remote engine sends and `ecgr1 serve` reads, and what the server answers
//! and the client reads. Answers are read leniently (every field optional) because each server
//! (vLLM, llama.cpp, `ecgr1 serve`) fills a different subset; requests are read strictly so a
//! client learns which field `ecgr1 serve` does not understand.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ecg_part::EcgPart;

/// A chat completion request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// OpenAI's newer spelling of `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub logprobs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<usize>,
    /// vLLM's extension (also honoured by `ecgr1 serve`): the last message is an assistant
    /// message the model continues, without closing its turn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_final_message: bool,
    /// vLLM's companion of `continue_final_message` (false with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_generation_prompt: Option<bool>,
    /// Fields OpenAI clients often send that do not change the answer here (`n` = 1, `user`,
    /// `stop`, penalties of 0); anything else is refused by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: MessageContent,
}

/// A message's content: a plain string or a list of typed parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One part of a message's content. `ecg` is the workstation's extension (see
/// [`super::ecg_part`] and the README).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    Ecg { ecg: EcgPart },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// A `data:image/png;base64,…` URL (remote URLs are not fetched by `ecgr1 serve`).
    pub url: String,
}

/// One generated token's log-probability and the most likely alternatives at its position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    #[serde(default)]
    pub token: String,
    pub logprob: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    #[serde(default)]
    pub token: String,
    pub logprob: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
}

impl TopLogprob {
    /// The token's text: its UTF-8 bytes when the server sent them (llama.cpp and vLLM do for
    /// pieces that are not whole characters), else the string.
    pub fn text(&self) -> String {
        token_text(&self.token, self.bytes.as_deref())
    }
}

impl TokenLogprob {
    /// The raw bytes the token adds to the output.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.bytes
            .clone()
            .unwrap_or_else(|| self.token.as_bytes().to_vec())
    }
}

fn token_text(token: &str, bytes: Option<&[u8]>) -> String {
    match bytes {
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => token.to_string(),
        },
        None => token.to_string(),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceLogprobs {
    #[serde(default)]
    pub content: Option<Vec<TokenLogprob>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

/// A streamed chunk (`object: chat.completion.chunk`) as far as the client reads it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// A whole (non-streamed) answer, `object: chat.completion`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    #[serde(default)]
    pub index: u32,
    pub message: AnswerMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerMessage {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
}

/// `GET /v1/models`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    #[serde(default)]
    pub object: String,
    pub data: Vec<ModelCard>,
}

/// One served model. `root` is vLLM's field for the weights it loaded; `ecgr1` is what
/// `ecgr1 serve` adds (absent from other servers).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub owned_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecgr1: Option<ServerModelInfo>,
}

/// `ecgr1 serve`'s description of the model it serves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerModelInfo {
    pub server_version: String,
    pub family: String,
    /// Hugging Face snapshot revision when the checkpoint came from the cache, else `None`.
    #[serde(default)]
    pub revision: Option<String>,
    /// (file name, SHA-256) of every weight file.
    pub weights_sha256: Vec<(String, String)>,
    pub dtype: String,
    pub device: String,
    /// Whether the `ecg` content part is accepted (the model has an ECG tower).
    pub accepts_ecg: bool,
    /// Tokens one signal becomes in the prompt (0 without a tower).
    pub ecg_tokens: usize,
    /// The largest `top_logprobs` the server answers.
    pub max_logprobs: usize,
}

/// The error body OpenAI-compatible servers answer with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: Value,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>, kind: &str, code: u16) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_string(),
                code: Value::from(code),
            },
        }
    }

    /// The message of an error body in any of the shapes servers use (`{"error": {"message"}}`,
    /// `{"error": "…"}`, `{"message": "…"}`, `{"detail": "…"}`), else the text itself, cut.
    pub fn message_of(body: &str) -> String {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str);
        match found {
            Some(m) => m.to_string(),
            None => body
                .chars()
                .take(300)
                .collect::<String>()
                .trim()
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_parts_read_the_openai_shapes() {
        let m: Message = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}},{"type":"text","text":"hi"}]}"#,
        )
        .unwrap();
        let MessageContent::Parts(parts) = m.content else {
            panic!("parts")
        };
        assert!(
            matches!(&parts[0], ContentPart::ImageUrl { image_url } if image_url.url.starts_with("data:"))
        );
        let s: Message = serde_json::from_str(r#"{"role":"system","content":"be brief"}"#).unwrap();
        assert_eq!(s.content, MessageContent::Text("be brief".into()));
        let e = serde_json::from_str::<Message>(
            r#"{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}"#,
        );
        assert!(e.is_err());
    }

    #[test]
    fn error_messages_are_found_in_every_shape() {
        assert_eq!(
            ErrorBody::message_of(r#"{"error":{"message":"queue full","type":"x"}}"#),
            "queue full"
        );
        assert_eq!(ErrorBody::message_of(r#"{"error":"bad"}"#), "bad");
        assert_eq!(ErrorBody::message_of(r#"{"detail":"nope"}"#), "nope");
        assert_eq!(
            ErrorBody::message_of("Internal Server Error"),
            "Internal Server Error"
        );
    }

    #[test]
    fn token_text_prefers_bytes() {
        let t = TopLogprob {
            token: "bytes:\\x20yes".into(),
            logprob: -1.0,
            bytes: Some(b" yes".to_vec()),
        };
        assert_eq!(t.text(), " yes");
    }
}

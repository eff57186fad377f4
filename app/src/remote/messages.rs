//! The chat messages the remote engine sends: the local engine's prompt (its system prompt,
//! the notes and the task's question as the user's text) with the image as a base64
//! `image_url` part and the signal as the workstation's `ecg` part.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ecgr1_engine::formats::EcgImage;
use ecgr1_engine::model::PromptInput;
use ecgr1_engine::model::engine::{SYSTEM_PROMPT, question_for};
use ecgr1_engine::report::Task;

use crate::openai::EcgPart;
use crate::openai::wire::{ContentPart, ImageUrl, Message, MessageContent};

/// The MIME type of an image's bytes (PNG or JPEG, the two formats the workstation reads).
pub fn image_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// A data URL of the image's original bytes, so the server decodes exactly the file opened.
pub fn image_data_url(image: &EcgImage) -> String {
    format!(
        "data:{};base64,{}",
        image_mime(&image.bytes),
        STANDARD.encode(&image.bytes)
    )
}

/// The system and user messages of one request, in the order the local engine renders them:
/// signal, image, text.
pub fn chat_messages(
    notes: &str,
    task: Task,
    image: Option<&EcgImage>,
    ecg: Option<EcgPart>,
) -> Vec<Message> {
    let input = PromptInput {
        system: Some(SYSTEM_PROMPT),
        notes,
        question: question_for(task),
        with_image: image.is_some(),
        ecg_tokens: 0,
    };
    let mut parts = Vec::new();
    if let Some(ecg) = ecg {
        parts.push(ContentPart::Ecg { ecg });
    }
    if let Some(image) = image {
        parts.push(ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: image_data_url(image),
            },
        });
    }
    parts.push(ContentPart::Text {
        text: input.user_text(),
    });
    vec![
        Message {
            role: "system".into(),
            content: MessageContent::Text(SYSTEM_PROMPT.into()),
        },
        Message {
            role: "user".into(),
            content: MessageContent::Parts(parts),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_local_prompt() {
        let m = chat_messages("chest pain", Task::Twi, None, None);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].content, MessageContent::Text(SYSTEM_PROMPT.into()));
        let MessageContent::Parts(parts) = &m[1].content else {
            panic!("parts")
        };
        let [ContentPart::Text { text }] = parts.as_slice() else {
            panic!("{parts:?}")
        };
        assert!(text.starts_with("chest pain\n\n"));
        assert!(text.ends_with(question_for(Task::Twi)));
        assert_eq!(image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(image_mime(b"\x89PNG"), "image/png");
    }
}

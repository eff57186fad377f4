//! ECG page images (PNG, JPEG): kept as their original bytes with hash and pixel size. The
//! model reads images directly; the measurements read the signal [`crate::digitise`] takes
//! from the page.

use image::ImageDecoder;

use super::{Format, FormatError, FormatErrorKind, sha256_hex};
use crate::record::Provenance;

/// Largest image accepted, in pixels (a 600 dpi A4 page is about 35 M pixels).
pub const MAX_IMAGE_PIXELS: u64 = 64 * 1024 * 1024;

/// An ECG page image with its provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct EcgImage {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub provenance: Provenance,
}

impl EcgImage {
    /// Decodes the pixels to RGB8 (for display and for the model's image processor).
    pub fn decode_rgb(&self) -> Result<::image::RgbImage, FormatError> {
        let img = ::image::load_from_memory(&self.bytes).map_err(|e| {
            FormatError::new(
                &self.provenance.file_name,
                FormatErrorKind::Invalid,
                "pixels",
                e.to_string(),
            )
        })?;
        Ok(img.to_rgb8())
    }
}

/// Reads the header of a PNG or JPEG (checking size before decoding anything) and keeps the bytes.
pub fn read(bytes: &[u8], file_name: &str) -> Result<EcgImage, FormatError> {
    let err =
        |kind, field: &str, problem: String| FormatError::new(file_name, kind, field, problem);
    let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else {
        return Err(err(
            FormatErrorKind::Unrecognised,
            "magic",
            "not a PNG or JPEG image".into(),
        ));
    };
    let cursor = std::io::Cursor::new(bytes);
    let (width, height) = match format {
        Format::Png => ::image::codecs::png::PngDecoder::new(cursor).map(|d| d.dimensions()),
        _ => ::image::codecs::jpeg::JpegDecoder::new(cursor).map(|d| d.dimensions()),
    }
    .map_err(|e| err(FormatErrorKind::Invalid, "image header", e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(err(
            FormatErrorKind::Invalid,
            "image size",
            format!("{width}×{height} pixels"),
        ));
    }
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(err(
            FormatErrorKind::TooLarge,
            "image size",
            format!("{width}×{height} pixels exceeds the limit of {MAX_IMAGE_PIXELS} pixels"),
        ));
    }
    Ok(EcgImage {
        bytes: bytes.to_vec(),
        width,
        height,
        provenance: Provenance {
            format,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_png() -> Vec<u8> {
        let img = ::image::RgbImage::from_pixel(3, 2, ::image::Rgb([255, 0, 0]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ::image::ImageFormat::Png)
            .unwrap_or_default();
        out.into_inner()
    }

    #[test]
    fn png_is_kept_with_hash_and_size() {
        let bytes = tiny_png();
        let img = read(&bytes, "page.png").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width, img.height), (3, 2));
        assert_eq!(img.provenance.sha256, sha256_hex(&bytes));
        assert_eq!(
            img.decode_rgb().map(|i| i.get_pixel(0, 0).0).ok(),
            Some([255, 0, 0])
        );
    }

    #[test]
    fn truncated_png_is_an_error() {
        let bytes = tiny_png();
        let err = read(&bytes[..20], "cut.png").err().map(|e| e.kind);
        assert_eq!(err, Some(FormatErrorKind::Invalid));
    }
}

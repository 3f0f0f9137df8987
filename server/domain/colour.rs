use std::fmt;

use super::Invalid;

/// A colour as `#rrggbb` (lower case); `#rgb` is accepted and expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour([u8; 3]);

/// WCAG 2 AA for normal text.
pub const MIN_CONTRAST: f64 = 4.5;

impl Colour {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Colour([r, g, b])
    }

    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let bad = || Invalid::new(field, format!("`{raw}` is not a colour such as #1f2937"));
        let hex = raw.trim().strip_prefix('#').ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit =
            |i: usize, width: usize| u8::from_str_radix(&hex[i..i + width], 16).map_err(|_| bad());
        match hex.len() {
            6 => Ok(Colour([digit(0, 2)?, digit(2, 2)?, digit(4, 2)?])),
            3 => {
                let expand = |i| digit(i, 1).map(|d| d * 17);
                Ok(Colour([expand(0)?, expand(1)?, expand(2)?]))
            }
            _ => Err(bad()),
        }
    }

    /// Relative luminance as WCAG 2 defines it.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// The WCAG contrast ratio between two colours, from 1 to 21.
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// Refuses `fg` on `bg` below the WCAG AA ratio, naming the foreground field.
pub(super) fn require_contrast(
    fg: Colour,
    bg: Colour,
    field: &'static str,
    bg_field: &str,
) -> Result<(), Invalid> {
    let ratio = fg.contrast(bg);
    if ratio < MIN_CONTRAST {
        return Err(Invalid::new(
            field,
            format!(
                "{fg} on {bg} ({bg_field}) has a contrast ratio of {ratio:.2}:1; it needs at least {MIN_CONTRAST}:1 to be readable"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            Colour::parse("#1F2937", "c").unwrap().to_string(),
            "#1f2937"
        );
        assert_eq!(Colour::parse("#fff", "c").unwrap().to_string(), "#ffffff");
        for bad in ["1f2937", "#12345", "#ggg", "red", "", "#1f29377"] {
            assert!(Colour::parse(bad, "c").is_err(), "{bad}");
        }
    }

    #[test]
    fn contrast_matches_wcag_reference_values() {
        let black = Colour::rgb(0, 0, 0);
        let white = Colour::rgb(255, 255, 255);
        assert!((black.contrast(white) - 21.0).abs() < 0.01);
        assert!((white.contrast(white) - 1.0).abs() < 0.01);
        // #777777 on white is the classic just-below-AA grey (4.48:1).
        let grey = Colour::parse("#777777", "c").unwrap();
        assert!((grey.contrast(white) - 4.48).abs() < 0.01);
        assert!(require_contrast(grey, white, "text_color", "background_color").is_err());
        assert!(require_contrast(Colour::parse("#767676", "c").unwrap(), white, "t", "b").is_ok());
    }

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    fn colour_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "#[0-9a-fA-F]{0,8}",
            "[ \t]{0,2}#[0-9a-fA-F]{3}[ \t]{0,2}",
            "#[0-9a-fA-F]{1,5}[g-zé€\u{0}\u{301} ][0-9a-fA-F]{0,3}",
            hostile().prop_map(|s| format!("#{s}")),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_is_a_colour_or_refused_and_colours_print_and_parse_back(
            raw in prop_oneof![hostile(), colour_like()],
        ) {
            if let Ok(c) = Colour::parse(&raw, "c") {
                let printed = c.to_string();
                prop_assert_eq!(printed.len(), 7);
                prop_assert!(printed.starts_with('#'));
                prop_assert!(
                    printed[1..]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    "{:?}",
                    printed
                );
                prop_assert_eq!(Colour::parse(&printed, "c"), Ok::<Colour, Invalid>(c));
                prop_assert_eq!(
                    printed.trim_start_matches('#'),
                    expand(raw.trim().trim_start_matches('#')).to_ascii_lowercase()
                );
            }
        }

        #[test]
        fn every_colour_reads_back_from_six_or_three_hex_digits(r: u8, g: u8, b: u8, upper: bool) {
            let six = format!("#{r:02x}{g:02x}{b:02x}");
            let six = if upper { six.to_ascii_uppercase() } else { six };
            prop_assert_eq!(Colour::parse(&six, "c"), Ok::<Colour, Invalid>(Colour::rgb(r, g, b)));
            let (r3, g3, b3) = (r >> 4, g >> 4, b >> 4);
            let three = format!("#{r3:x}{g3:x}{b3:x}");
            prop_assert_eq!(
                Colour::parse(&three, "c"),
                Ok::<Colour, Invalid>(Colour::rgb(r3 * 17, g3 * 17, b3 * 17))
            );
        }

        #[test]
        fn contrast_is_between_1_and_21_symmetric_and_decides_the_requirement(
            a in any::<[u8; 3]>(),
            b in any::<[u8; 3]>(),
        ) {
            let (a, b) = (Colour::rgb(a[0], a[1], a[2]), Colour::rgb(b[0], b[1], b[2]));
            let ratio = a.contrast(b);
            prop_assert!(ratio.is_finite());
            prop_assert!((1.0 - 1e-9..=21.0 + 1e-9).contains(&ratio), "{}", ratio);
            prop_assert!((ratio - b.contrast(a)).abs() < 1e-12);
            prop_assert!((a.contrast(a) - 1.0).abs() < 1e-12);
            prop_assert_eq!(
                require_contrast(a, b, "text_color", "background_color").is_ok(),
                ratio >= MIN_CONTRAST
            );
        }
    }

    /// `#abc` as `#aabbcc`; anything else as it is.
    fn expand(hex: &str) -> String {
        if hex.len() == 3 {
            hex.chars().flat_map(|c| [c, c]).collect()
        } else {
            hex.to_string()
        }
    }
}

//! TSIG keys (RFC 8945) and BIND's key-file format, as `tsig-keygen` writes:
//!
//! ```text
//! key "host.grid.example" {
//!         algorithm hmac-sha256;
//!         secret "base64...";
//! };
//! ```

use std::fmt;
use std::path::Path;

use data_encoding::BASE64;
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::rr::Name;

/// The TSIG MAC algorithms this crate signs with (RFC 8945 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsigAlg {
    /// hmac-sha256 (mandatory to implement, RFC 8945 section 6).
    HmacSha256,
    /// hmac-sha384.
    HmacSha384,
    /// hmac-sha512.
    HmacSha512,
}

impl TsigAlg {
    /// The name used in key files and in the TSIG RR.
    pub fn name(self) -> &'static str {
        match self {
            TsigAlg::HmacSha256 => "hmac-sha256",
            TsigAlg::HmacSha384 => "hmac-sha384",
            TsigAlg::HmacSha512 => "hmac-sha512",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().trim_end_matches('.') {
            "hmac-sha256" => Some(TsigAlg::HmacSha256),
            "hmac-sha384" => Some(TsigAlg::HmacSha384),
            "hmac-sha512" => Some(TsigAlg::HmacSha512),
            _ => None,
        }
    }

    pub(crate) fn hickory(self) -> TsigAlgorithm {
        match self {
            TsigAlg::HmacSha256 => TsigAlgorithm::HmacSha256,
            TsigAlg::HmacSha384 => TsigAlgorithm::HmacSha384,
            TsigAlg::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }
}

/// A TSIG key: its name (the TSIG RR owner), algorithm and shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key name, as the server knows it.
    pub name: Name,
    /// The MAC algorithm.
    pub algorithm: TsigAlg,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A key file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {msg}")]
pub struct KeyFileError {
    /// The file (or whatever name the caller gave the text).
    pub file: String,
    /// The 1-based line (0 when the file could not be read).
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// The TSIG fudge we sign with (RFC 8945 section 10 recommends 300 s).
pub const FUDGE: u16 = 300;

impl TsigKey {
    /// The first `key` statement of a BIND key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyFileError {
            file: path.display().to_string(),
            line: 0,
            msg: e.to_string(),
        })?;
        Self::parse_bind(&text, &path.display().to_string())
    }

    /// Parse the first `key "name" { algorithm ...; secret "..."; };`
    /// statement of `text`; `source` names the text in errors.
    pub fn parse_bind(text: &str, source: &str) -> Result<Self, KeyFileError> {
        let toks = lex(text);
        let last_line = text.lines().count().max(1);
        let err = |line: usize, msg: String| KeyFileError {
            file: source.to_string(),
            line,
            msg,
        };
        let mut it = toks.iter().peekable();
        let mut next = |what: &str| {
            it.next().cloned().ok_or_else(|| {
                err(
                    last_line,
                    format!("unexpected end of file, expected {what}"),
                )
            })
        };
        let expect = |t: (usize, Tok), want: &str| -> Result<(), KeyFileError> {
            match t.1 {
                Tok::Punct(c) if c.to_string() == want => Ok(()),
                other => Err(err(t.0, format!("expected '{want}', found {other}"))),
            }
        };
        let kw = next("'key'")?;
        if kw.1 != Tok::Word("key".into()) {
            return Err(err(kw.0, format!("expected 'key', found {}", kw.1)));
        }
        let name_tok = next("the key name")?;
        let name = match &name_tok.1 {
            Tok::Str(s) | Tok::Word(s) => Name::parse(s, Some(&Name::root()))
                .map_err(|e| err(name_tok.0, format!("bad key name {s:?}: {e}")))?,
            other => {
                return Err(err(
                    name_tok.0,
                    format!("expected the key name, found {other}"),
                ))
            }
        };
        expect(next("'{'")?, "{")?;
        let (mut algorithm, mut secret) = (None, None);
        loop {
            let t = next("'algorithm', 'secret' or '}'")?;
            match &t.1 {
                Tok::Punct('}') => break,
                Tok::Word(w) if w == "algorithm" => {
                    let a = next("an algorithm name")?;
                    let s = match &a.1 {
                        Tok::Word(s) | Tok::Str(s) => s.clone(),
                        other => {
                            return Err(err(a.0, format!("expected an algorithm, found {other}")))
                        }
                    };
                    algorithm = Some(TsigAlg::from_name(&s).ok_or_else(|| {
                        err(
                            a.0,
                            format!(
                                "unsupported algorithm {s:?} (use hmac-sha256, hmac-sha384 or hmac-sha512)"
                            ),
                        )
                    })?);
                    expect(next("';'")?, ";")?;
                }
                Tok::Word(w) if w == "secret" => {
                    let s = next("the secret")?;
                    let b64 = match &s.1 {
                        Tok::Str(v) => v.clone(),
                        other => {
                            return Err(err(
                                s.0,
                                format!("expected a quoted secret, found {other}"),
                            ))
                        }
                    };
                    let compact: String = b64.split_whitespace().collect();
                    let v = BASE64
                        .decode(compact.as_bytes())
                        .map_err(|_| err(s.0, "the secret is not base64".into()))?;
                    if v.is_empty() {
                        return Err(err(s.0, "the secret is empty".into()));
                    }
                    secret = Some(v);
                    expect(next("';'")?, ";")?;
                }
                other => {
                    return Err(err(
                        t.0,
                        format!("expected 'algorithm', 'secret' or '}}', found {other}"),
                    ))
                }
            }
        }
        let close = next("';'")?;
        let close_line = close.0;
        expect(close, ";")?;
        Ok(TsigKey {
            name,
            algorithm: algorithm
                .ok_or_else(|| err(close_line, "the key has no algorithm".into()))?,
            secret: secret.ok_or_else(|| err(close_line, "the key has no secret".into()))?,
        })
    }

    /// The key in BIND's key-file format.
    pub fn to_bind(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
            self.name.to_ascii().trim_end_matches('.'),
            self.algorithm.name(),
            BASE64.encode(&self.secret)
        )
    }

    pub(crate) fn signer(&self) -> Result<TSigner, String> {
        TSigner::new(
            self.secret.clone(),
            self.algorithm.hickory(),
            self.name.clone(),
            FUDGE,
        )
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "'{w}'"),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Punct(c) => write!(f, "'{c}'"),
        }
    }
}

/// Tokens with their line; `#`, `//` and `/* */` comments dropped.
fn lex(text: &str) -> Vec<(usize, Tok)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '{' | '}' | ';' => out.push((line, Tok::Punct(c))),
            '"' => {
                let start = line;
                let mut s = String::new();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    if c == '\n' {
                        line += 1;
                    }
                    s.push(c);
                }
                out.push((start, Tok::Str(s)));
            }
            c => {
                let mut w = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push((line, Tok::Word(w)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYGEN: &str = "key \"host.grid.example\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=\";\n};\n";

    #[test]
    fn reads_tsig_keygen_output() {
        let k = TsigKey::parse_bind(KEYGEN, "k.key").unwrap();
        assert_eq!(k.name, Name::from_ascii("host.grid.example.").unwrap());
        assert_eq!(k.algorithm, TsigAlg::HmacSha256);
        assert_eq!(k.secret, b"secret-secret-secret-secret-secr");
        assert_eq!(TsigKey::parse_bind(&k.to_bind(), "again").unwrap(), k);
        let commented = format!("# made by tsig-keygen\n// and\n/* more */ {KEYGEN}");
        assert_eq!(TsigKey::parse_bind(&commented, "c").unwrap(), k);
        assert!(!format!("{k:?}").contains("c2Vj"));
    }

    #[test]
    fn bad_files_say_where() {
        let cases = [
            ("", "k:1: unexpected end of file, expected 'key'"),
            ("zone \"x\" {};", "k:1: expected 'key', found 'zone'"),
            (
                "key \"a\" {\n algorithm hmac-md5;\n secret \"AAAA\";\n};",
                "k:2: unsupported algorithm",
            ),
            (
                "key \"a\" {\n algorithm hmac-sha256;\n secret \"!!\";\n};",
                "k:3: the secret is not base64",
            ),
            (
                "key \"a\" {\n algorithm hmac-sha256;\n};",
                "k:3: the key has no secret",
            ),
            (
                "key \"a\" {\n secret \"AAAA\";\n};",
                "k:3: the key has no algorithm",
            ),
            (
                "key \"a\" {\n algorithm hmac-sha256\n secret \"AAAA\";\n};",
                "k:3: expected ';'",
            ),
            (
                "key \"a\" {\n algorithm hmac-sha256;\n secret \"AAAA\";\n}",
                "k:4: unexpected end of file",
            ),
        ];
        for (text, want) in cases {
            let e = TsigKey::parse_bind(text, "k").unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: got {e:?}, want {want:?}");
        }
        let e = TsigKey::from_file(Path::new("/nonexistent/k.key")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/k.key:0: "));
    }
}

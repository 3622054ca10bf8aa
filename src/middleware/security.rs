//! `SecurityMiddleware` and production mode's security headers: one policy.
//!
//! HSTS goes only on secure requests (RFC 6797 §7.2: a host must not send it
//! over plain HTTP), as Django's `SecurityMiddleware` does; "secure" means a
//! trusted proxy reported HTTPS (`request.is_secure`). Every other header is
//! added unless the handler set its own value (never duplicated).

use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::http::response_head::HeadDefaults;

/// 180 days: the least max-age browsers' preload lists and RFC 6797 practice accept.
pub const MIN_HSTS_MAX_AGE: u64 = 180 * 24 * 3600;

#[derive(Clone, Debug)]
pub struct SecurityPolicy {
    /// What a secure request's answer gets (HSTS first, when configured) ...
    secure: HeadDefaults,
    /// ... and a plain one's (the same, without HSTS).
    plain: HeadDefaults,
}

/// The options of `SecurityMiddleware(...)`.
#[derive(Clone, Debug)]
pub struct SecurityOptions {
    pub hsts: bool,
    pub hsts_max_age: u64,
    pub hsts_include_subdomains: bool,
    pub hsts_preload: bool,
    pub frame_deny: bool,
    pub content_type_nosniff: bool,
    pub referrer_policy: Option<String>,
    pub content_security_policy: Option<String>,
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions {
            hsts: true,
            hsts_max_age: 31_536_000,
            hsts_include_subdomains: true,
            hsts_preload: false,
            frame_deny: true,
            content_type_nosniff: true,
            referrer_policy: Some("strict-origin-when-cross-origin".to_owned()),
            content_security_policy: None,
        }
    }
}

impl SecurityPolicy {
    /// Validates the options; the error is one line naming the bad one.
    pub fn new(options: &SecurityOptions) -> Result<SecurityPolicy, String> {
        let hsts = if options.hsts {
            if options.hsts_max_age < MIN_HSTS_MAX_AGE {
                return Err(format!(
                    "hsts_max_age must be at least {MIN_HSTS_MAX_AGE} seconds (180 days), not {}",
                    options.hsts_max_age
                ));
            }
            let mut value = format!("max-age={}", options.hsts_max_age);
            if options.hsts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if options.hsts_preload {
                value.push_str("; preload");
            }
            Some((STRICT_TRANSPORT_SECURITY, header_value("hsts", &value)?))
        } else {
            None
        };
        let mut headers = Vec::new();
        if options.frame_deny {
            headers.push((X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
        }
        if options.content_type_nosniff {
            headers.push((X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
        }
        if let Some(policy) = &options.referrer_policy {
            headers.push((REFERRER_POLICY, header_value("referrer_policy", policy)?));
        }
        if let Some(policy) = &options.content_security_policy {
            headers.push((CONTENT_SECURITY_POLICY, header_value("csp", policy)?));
        }
        let plain = HeadDefaults::new(headers.clone());
        let secure = HeadDefaults::new(hsts.into_iter().chain(headers).collect());
        Ok(SecurityPolicy { secure, plain })
    }

    /// What `app.run(prod=True)` applies to every answer: `SecurityMiddleware()`'s defaults.
    pub fn production() -> &'static SecurityPolicy {
        static PRODUCTION: std::sync::LazyLock<SecurityPolicy> =
            std::sync::LazyLock::new(SecurityPolicy::defaults);
        &PRODUCTION
    }

    fn defaults() -> SecurityPolicy {
        SecurityPolicy::new(&SecurityOptions::default()).unwrap_or(SecurityPolicy {
            secure: HeadDefaults::new(Vec::new()),
            plain: HeadDefaults::new(Vec::new()),
        })
    }

    /// Adds the headers the answer lacks; HSTS only when `secure`.
    pub fn apply(&self, headers: &mut HeaderMap, secure: bool) {
        for (name, value) in self.headers_for(secure) {
            headers.entry(name).or_insert_with(|| value.clone());
        }
    }

    /// The headers this policy adds (each only when absent): HSTS only when
    /// `secure`. The server passes these to `write_head` as its defaults
    /// (written beside the answer's own, never inserted into its map); the
    /// ASGI adapter applies them through this too.
    pub fn headers_for(&self, secure: bool) -> &[(HeaderName, HeaderValue)] {
        self.head_defaults(secure).fields()
    }

    /// [`SecurityPolicy::headers_for`] as `write_head` takes them.
    pub fn head_defaults(&self, secure: bool) -> &HeadDefaults {
        if secure {
            &self.secure
        } else {
            &self.plain
        }
    }
}

fn header_value(option: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value)
        .map_err(|_| format!("{option} {value:?} is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_only_when_secure_and_handler_values_kept() {
        let policy = SecurityPolicy::production();
        let mut plain = HeaderMap::new();
        policy.apply(&mut plain, false);
        assert!(plain.get(STRICT_TRANSPORT_SECURITY).is_none());
        assert_eq!(plain[X_FRAME_OPTIONS], "DENY");
        let mut secure = HeaderMap::new();
        secure.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        policy.apply(&mut secure, true);
        assert_eq!(
            secure[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(secure.get_all(X_FRAME_OPTIONS).iter().count(), 1);
        assert_eq!(secure[X_FRAME_OPTIONS], "SAMEORIGIN");
    }

    #[test]
    fn short_hsts_and_bad_values_are_refused() {
        let short = SecurityOptions {
            hsts_max_age: 3600,
            ..SecurityOptions::default()
        };
        assert!(SecurityPolicy::new(&short)
            .unwrap_err()
            .contains("180 days"));
        let bad = SecurityOptions {
            content_security_policy: Some("default-src\n'self'".to_owned()),
            ..SecurityOptions::default()
        };
        assert!(SecurityPolicy::new(&bad).unwrap_err().contains("csp"));
    }
}

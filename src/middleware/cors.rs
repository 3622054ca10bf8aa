//! `CORSMiddleware`: simple and preflight requests per the Fetch standard.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! is answered here, whatever the routes are. An allowed origin is echoed
//! with `Vary: Origin`; a disallowed origin, method or header gets no grant.
//! `*` is never combined with credentials (refused at construction).

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::add_vary;
use crate::http::head::RequestHead;
use crate::server::{NativeResponse, ResponseBody};

/// The options of `CORSMiddleware(...)`.
#[derive(Clone, Debug, Default)]
pub struct CorsOptions {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
    pub expose_headers: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct CorsPolicy {
    any_origin: bool,
    /// Lowercased `scheme://host[:port]`.
    origins: Vec<String>,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    any_header: bool,
    /// Lowercased names.
    headers: Vec<String>,
    headers_value: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
    expose: Option<HeaderValue>,
}

/// Request facts the response side needs.
pub struct CorsRequest {
    origin: Option<HeaderValue>,
}

impl CorsPolicy {
    pub fn new(options: &CorsOptions) -> Result<CorsPolicy, String> {
        let any_origin = options.origins.iter().any(|origin| origin == "*");
        if any_origin && options.allow_credentials {
            return Err(
                "CORSMiddleware: origins=['*'] cannot be combined with allow_credentials=True \
                 (browsers refuse it); list the allowed origins instead"
                    .to_owned(),
            );
        }
        let mut origins = Vec::new();
        for origin in options.origins.iter().filter(|origin| *origin != "*") {
            if !is_origin(origin) {
                return Err(format!(
                    "CORSMiddleware: origin {origin:?} must look like 'https://example.com' \
                     (scheme and host, optional port, no path)"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        let mut methods = Vec::new();
        for method in &options.methods {
            let parsed = Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("CORSMiddleware: {method:?} is not an HTTP method"))?;
            methods.push(parsed);
        }
        let methods_text = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let any_header = options.headers.iter().any(|header| header == "*");
        let mut headers = Vec::new();
        for header in options.headers.iter().filter(|header| *header != "*") {
            HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| format!("CORSMiddleware: {header:?} is not a header name"))?;
            headers.push(header.trim().to_ascii_lowercase());
        }
        let headers_value = (!headers.is_empty())
            .then(|| HeaderValue::from_str(&headers.join(", ")))
            .transpose()
            .map_err(|_| "CORSMiddleware: invalid header list".to_owned())?;
        let mut expose = Vec::new();
        for header in &options.expose_headers {
            HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| format!("CORSMiddleware: {header:?} is not a header name"))?;
            expose.push(header.trim().to_owned());
        }
        Ok(CorsPolicy {
            any_origin,
            origins,
            methods_value: HeaderValue::from_str(&methods_text)
                .map_err(|_| "CORSMiddleware: invalid method list".to_owned())?,
            methods,
            any_header,
            headers,
            headers_value,
            max_age: options.max_age.map(HeaderValue::from),
            credentials: options.allow_credentials,
            expose: (!expose.is_empty())
                .then(|| HeaderValue::from_str(&expose.join(", ")))
                .transpose()
                .map_err(|_| "CORSMiddleware: invalid expose_headers".to_owned())?,
        })
    }

    fn allows_origin(&self, origin: &[u8]) -> bool {
        if self.any_origin {
            return true;
        }
        self.origins
            .iter()
            .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin))
    }

    /// A preflight's answer (the handler never runs), or None when the request
    /// is not a preflight. Also returns what the response side needs.
    pub fn before(&self, head: &RequestHead) -> (CorsRequest, Option<NativeResponse>) {
        let origin = head
            .header("origin")
            .and_then(|origin| HeaderValue::from_bytes(origin).ok());
        let request = CorsRequest { origin };
        let preflight = head.method() == Method::OPTIONS
            && request.origin.is_some()
            && head.header("access-control-request-method").is_some();
        if !preflight {
            return (request, None);
        }
        let answer = self.preflight(head, request.origin.as_ref());
        (request, Some(answer))
    }

    fn preflight(&self, head: &RequestHead, origin: Option<&HeaderValue>) -> NativeResponse {
        let mut headers = HeaderMap::new();
        add_vary(&mut headers, "Origin");
        let origin = origin.filter(|origin| self.allows_origin(origin.as_bytes()));
        let method_ok = head
            .header(ACCESS_CONTROL_REQUEST_METHOD.as_str())
            .and_then(|method| Method::from_bytes(method).ok())
            .is_some_and(|method| self.methods.contains(&method));
        let requested: Vec<String> = head
            .header_values(ACCESS_CONTROL_REQUEST_HEADERS.as_str())
            .flat_map(|value| value.split(|&byte| byte == b','))
            .map(|name| String::from_utf8_lossy(name).trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        let headers_ok = self.any_header
            || requested
                .iter()
                .all(|name| self.headers.iter().any(|allowed| allowed == name));
        let Some(origin) = origin else {
            return refusal(headers, "Disallowed CORS origin");
        };
        if !method_ok {
            return refusal(headers, "Disallowed CORS method");
        }
        if !headers_ok {
            return refusal(headers, "Disallowed CORS headers");
        }
        self.grant(&mut headers, origin);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods_value.clone());
        let allow_headers = if self.any_header {
            // Echo what was asked for (only names that parsed as tokens above).
            HeaderValue::from_str(&requested.join(", ")).ok()
        } else {
            self.headers_value.clone()
        };
        if let Some(value) = allow_headers.filter(|value| !value.is_empty()) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if let Some(max_age) = &self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        NativeResponse {
            status: StatusCode::NO_CONTENT,
            headers,
            body: ResponseBody::empty(),
        }
    }

    fn grant(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        if self.any_origin && !self.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Adds the grant to an actual (non-preflight) response.
    pub fn after(&self, request: &CorsRequest, headers: &mut HeaderMap) {
        if !self.any_origin {
            add_vary(headers, "Origin");
        }
        let Some(origin) = request
            .origin
            .as_ref()
            .filter(|origin| self.allows_origin(origin.as_bytes()))
        else {
            return;
        };
        self.grant(headers, origin);
        if let Some(expose) = &self.expose {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

/// A preflight without a grant: the browser blocks the real request; the body says why.
fn refusal(headers: HeaderMap, reason: &str) -> NativeResponse {
    let mut answer = NativeResponse::detail(StatusCode::BAD_REQUEST, reason);
    answer.headers.extend(headers);
    answer
}

/// `scheme://host[:port]`, nothing else (what a browser sends in `Origin`).
fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

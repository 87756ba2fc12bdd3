//! Access-token claims, signing and verification (EdDSA / Ed25519 JWTs).
//!
//! Only the User service holds the private key and signs; every other service verifies with
//! the public key alone (zero trust inside the mesh), so a compromised service cannot mint
//! tokens. The gRPC layer verifies the bearer token once per request and puts the
//! [`Claims`] in the request extensions; handlers ask for them with [`claims`] or
//! [`require_admin`].
//!
//! Key rotation: every token names its signing key in the JWT `kid` header (the key's RFC 7638
//! thumbprint), and a verifier holds a PEM *bundle* of public keys. To rotate, add the new
//! public key to every verifier's bundle, then switch the User service to the new private
//! key, then drop the old public key once the last token it signed has expired (the access
//! token TTL). Nobody is logged out on the way.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// The issuer every shopmesh token carries and every verifier insists on.
pub const ISSUER: &str = "shopmesh-user";
/// One answer for every refused token: the caller learns nothing about why.
const REJECTED_TOKEN: &str = "invalid or expired access token";
/// The audience: tokens are for the shopmesh API, not for anything else sharing the key.
pub const AUDIENCE: &str = "shopmesh";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

// Stored as its text in User's `users.role`; an unknown role there is an error, never
// quietly a customer.
crate::text_column!(Role);

/// What an access token asserts about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, for audit logs.
    pub jti: String,
}

impl Claims {
    /// A caller as request parsing sees it (`sub`, `email`, `role`) with no token around it
    /// (issuer, audience, times and id empty): what domain tests and fuzz targets hand to the
    /// parsers, which read nothing else.
    pub fn unsigned(sub: impl Into<String>, email: impl Into<String>, role: Role) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            role,
            iss: String::new(),
            aud: String::new(),
            iat: 0,
            exp: 0,
            jti: String::new(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// True when the bearer is `user_id` or an admin: the ownership rule most reads use.
    pub fn may_act_for(&self, user_id: &str) -> bool {
        self.is_admin() || self.sub == user_id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid Ed25519 key PEM: {0}")]
    Pem(#[from] jsonwebtoken::errors::Error),
    #[error("cannot encode generated key: {0}")]
    Encode(String),
    #[error("invalid Ed25519 public key: {0}")]
    PublicKey(String),
    #[error("the public key bundle holds no `-----BEGIN PUBLIC KEY-----` block")]
    EmptyBundle,
}

/// The key id of an Ed25519 public key: its JWK thumbprint (RFC 7638), base64url. Derived,
/// never configured, so a signer and its verifiers cannot disagree about it.
pub fn key_id(public_key_pem: &str) -> Result<String, KeyError> {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePublicKey;
    use sha2::Digest as _;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(public_key_pem.trim())
        .map_err(|e| KeyError::PublicKey(e.to_string()))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // The required members in lexicographic order, no whitespace: RFC 7638 §3.
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        b64.encode(key.as_bytes())
    );
    Ok(b64.encode(sha2::Sha256::digest(jwk.as_bytes())))
}

/// The `-----BEGIN PUBLIC KEY-----` blocks of a PEM bundle, each with its armour.
fn public_key_blocks(bundle: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let mut blocks = Vec::new();
    let mut rest = bundle;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

/// Signs access tokens. Lives in the User service; tests use it to act as any user.
#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    key_id: String,
    ttl: Duration,
}

impl TokenSigner {
    pub fn from_pem(private_key_pem: &str, ttl: Duration) -> Result<Self, KeyError> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(private_key_pem.as_bytes())?,
            key_id: key_id(&public_pem_from_private(private_key_pem)?)?,
            ttl,
        })
    }

    /// The `kid` every token this signer mints carries.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn sign(&self, user_id: &str, email: &str, role: Role) -> Result<String, ServiceError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            email: email.to_owned(),
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(ServiceError::internal)
    }
}

/// Verifies access tokens with public keys only: the current one and, during a rotation,
/// the previous one(s).
#[derive(Clone)]
pub struct TokenVerifier {
    /// `(kid, key)`; a handful at most, so a linear scan is the fastest lookup.
    keys: Vec<(String, DecodingKey)>,
    validation: Validation,
}

impl TokenVerifier {
    /// From one public key PEM or a bundle of several (concatenated PEM blocks).
    pub fn from_pem(public_key_pem: &str) -> Result<Self, KeyError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        let blocks = public_key_blocks(public_key_pem);
        if blocks.is_empty() {
            return Err(KeyError::EmptyBundle);
        }
        let keys = blocks
            .iter()
            .map(|pem| Ok((key_id(pem)?, DecodingKey::from_ed_pem(pem.as_bytes())?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(Self { keys, validation })
    }

    /// The ids of the keys this verifier accepts, current and previous.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(kid, _)| kid.as_str())
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ServiceError> {
        let rejected = |error: jsonwebtoken::errors::Error| {
            tracing::debug!(%error, "rejected access token");
            ServiceError::Unauthenticated(REJECTED_TOKEN.into())
        };
        let header = jsonwebtoken::decode_header(token).map_err(rejected)?;
        let decode = |key: &DecodingKey| {
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map(|data| data.claims)
        };
        match header.kid {
            // A named key is the only one tried: an unknown kid is a foreign or retired key.
            Some(kid) => match self.keys.iter().find(|(id, _)| *id == kid) {
                Some((_, key)) => decode(key).map_err(rejected),
                None => {
                    tracing::debug!(%kid, "rejected access token: it names an unknown key");
                    Err(ServiceError::Unauthenticated(REJECTED_TOKEN.into()))
                }
            },
            // Tokens minted before key ids existed: any configured key may have signed them.
            None => {
                let mut last = jsonwebtoken::errors::ErrorKind::InvalidSignature.into();
                for (_, key) in &self.keys {
                    match decode(key) {
                        Ok(claims) => return Ok(claims),
                        Err(error) => last = error,
                    }
                }
                Err(rejected(last))
            }
        }
    }

    /// Verifies an `authorization` header value of the form `Bearer <token>`.
    pub fn verify_bearer(&self, header: &str) -> Result<Claims, ServiceError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ServiceError::Unauthenticated("authorization must be `Bearer <token>`".into())
            })?;
        self.verify(token.trim())
    }
}

/// The verifier a service builds from its configuration: the public key PEM inline or as a
/// file (see [`crate::config::pem_from`]).
pub fn load_verifier(pem: Option<&str>, file: Option<&str>) -> anyhow::Result<TokenVerifier> {
    let pem = crate::config::pem_from(pem, file, "jwt_public_key")?;
    Ok(TokenVerifier::from_pem(&pem)?)
}

/// A freshly generated Ed25519 key pair as PEM, for tests and first-run development setups.
pub struct GeneratedKeys {
    pub private_pem: String,
    pub public_pem: String,
}

pub fn generate_keys() -> Result<GeneratedKeys, KeyError> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let private_pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?
        .to_string();
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(GeneratedKeys {
        private_pem,
        public_pem,
    })
}

/// The public half of a PKCS#8 Ed25519 private key, so the signer needs only one secret.
pub fn public_pem_from_private(private_pem: &str) -> Result<String, KeyError> {
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))
}

/// The verified caller of a request, or `UNAUTHENTICATED` when it carried no token.
pub fn claims<T>(request: &tonic::Request<T>) -> Result<&Claims, ServiceError> {
    request
        .extensions()
        .get::<Claims>()
        .ok_or_else(|| ServiceError::Unauthenticated("an access token is required".into()))
}

/// The caller, who must be an admin (`PERMISSION_DENIED` otherwise).
pub fn require_admin<T>(request: &tonic::Request<T>) -> Result<&Claims, ServiceError> {
    let claims = claims(request)?;
    if claims.is_admin() {
        Ok(claims)
    } else {
        Err(ServiceError::PermissionDenied("admin role required".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TokenSigner, TokenVerifier) {
        let keys = generate_keys().unwrap();
        (
            TokenSigner::from_pem(&keys.private_pem, Duration::from_secs(60)).unwrap(),
            TokenVerifier::from_pem(&keys.public_pem).unwrap(),
        )
    }

    /// Claims valid for `iat..exp` seconds from now, as the User service would write them.
    fn claims_for(role: Role, iat: i64, exp: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "u1".into(),
            email: "a@b.c".into(),
            role,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now + iat,
            exp: now + exp,
            jti: "j".into(),
        }
    }

    /// A token signed with `private_pem` under `header`, bypassing [`TokenSigner`].
    fn encode_with(header: &Header, claims: &Claims, private_pem: &str) -> String {
        let key = EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(header, claims, &key).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_with_the_public_key() {
        let (signer, verifier) = pair();
        let token = signer.sign("u1", "a@b.c", Role::Admin).unwrap();
        let claims = verifier.verify_bearer(&format!("Bearer {token}")).unwrap();
        assert_eq!(claims.sub, "u1");
        assert!(claims.is_admin());
        assert!(claims.may_act_for("someone-else"));
    }

    #[test]
    fn the_public_key_derives_from_the_private_key() {
        let keys = generate_keys().unwrap();
        assert_eq!(
            public_pem_from_private(&keys.private_pem).unwrap(),
            keys.public_pem
        );
        assert!(public_pem_from_private("not a key").is_err());
    }

    #[test]
    fn tokens_from_another_key_or_tampered_are_rejected() {
        let (signer, _) = pair();
        let (_, other_verifier) = pair();
        let token = signer.sign("u1", "a@b.c", Role::Customer).unwrap();
        assert!(other_verifier.verify(&token).is_err());

        let (signer, verifier) = pair();
        let token = signer.sign("u1", "a@b.c", Role::Customer).unwrap();
        // Promote ourselves to admin in the payload and keep the original signature.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap();
        assert!(payload.contains("\"customer\""));
        parts[1] = b64.encode(payload.replace("\"customer\"", "\"admin\""));
        assert!(verifier.verify(&parts.join(".")).is_err());
        assert!(verifier.verify(&token).is_ok());
        assert!(
            verifier.verify_bearer(&token).is_err(),
            "missing Bearer prefix"
        );
    }

    #[test]
    fn during_a_rotation_both_keys_verify_and_a_retired_key_does_not() {
        let old = generate_keys().unwrap();
        let new = generate_keys().unwrap();
        let old_signer = TokenSigner::from_pem(&old.private_pem, Duration::from_secs(60)).unwrap();
        let new_signer = TokenSigner::from_pem(&new.private_pem, Duration::from_secs(60)).unwrap();
        assert_ne!(old_signer.key_id(), new_signer.key_id());
        let old_token = old_signer.sign("u1", "a@b.c", Role::Customer).unwrap();
        let new_token = new_signer.sign("u1", "a@b.c", Role::Customer).unwrap();
        let header = jsonwebtoken::decode_header(&new_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(new_signer.key_id()));

        let bundle = format!("{}{}", new.public_pem, old.public_pem);
        let rotating = TokenVerifier::from_pem(&bundle).unwrap();
        assert_eq!(rotating.key_ids().count(), 2);
        assert!(rotating.verify(&old_token).is_ok());
        assert!(rotating.verify(&new_token).is_ok());

        let rotated = TokenVerifier::from_pem(&new.public_pem).unwrap();
        assert!(rotated.verify(&new_token).is_ok());
        assert!(rotated.verify(&old_token).is_err(), "the retired key");
    }

    #[test]
    fn a_token_naming_one_key_is_not_tried_against_another() {
        let victim = generate_keys().unwrap();
        let attacker = generate_keys().unwrap();
        let verifier = TokenVerifier::from_pem(&victim.public_pem).unwrap();
        let attacker_signer =
            TokenSigner::from_pem(&attacker.private_pem, Duration::from_secs(60)).unwrap();
        // Signed by the attacker but claiming the victim's kid: the signature check fails.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key_id(&victim.public_pem).unwrap());
        let forged = encode_with(
            &header,
            &claims_for(Role::Admin, 0, 60),
            &attacker.private_pem,
        );
        assert!(verifier.verify(&forged).is_err());
        let own = attacker_signer.sign("u1", "a@b.c", Role::Admin).unwrap();
        assert!(verifier.verify(&own).is_err(), "an unknown kid");
        assert!(TokenVerifier::from_pem("no pem here").is_err());
    }

    /// Whether a token for `claims` with no `kid` in its header verifies under its own key.
    fn verifies_without_key_id(claims: &Claims) -> bool {
        let keys = generate_keys().unwrap();
        let verifier = TokenVerifier::from_pem(&keys.public_pem).unwrap();
        let token = encode_with(&Header::new(Algorithm::EdDSA), claims, &keys.private_pem);
        verifier.verify(&token).is_ok()
    }

    #[test]
    fn tokens_without_a_key_id_still_verify() {
        assert!(verifies_without_key_id(&claims_for(Role::Customer, 0, 60)));
    }

    #[test]
    fn expired_tokens_are_rejected() {
        assert!(!verifies_without_key_id(&claims_for(
            Role::Customer,
            -120,
            -60
        )));
    }
}

//! Access-token claims, signing and verification (EdDSA / Ed25519 JWTs).
//!
//! Only the User service holds the private key and signs; every other service verifies with
//! the public key alone (zero trust inside the mesh), so a compromised service cannot mint
//! tokens. The gRPC layer verifies the bearer token once per request and puts the
//! [`Claims`] in the request extensions; handlers ask for them with [`claims`] or
//! [`require_admin`].

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// The issuer every shopmesh token carries and every verifier insists on.
pub const ISSUER: &str = "shopmesh-user";
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
}

/// Signs access tokens. Lives in the User service; tests use it to act as any user.
#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    ttl: Duration,
}

impl TokenSigner {
    pub fn from_pem(private_key_pem: &str, ttl: Duration) -> Result<Self, KeyError> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(private_key_pem.as_bytes())?,
            ttl,
        })
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
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .map_err(ServiceError::internal)
    }
}

/// Verifies access tokens with the public key only.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn from_pem(public_key_pem: &str) -> Result<Self, KeyError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        Ok(Self {
            key: DecodingKey::from_ed_pem(public_key_pem.as_bytes())?,
            validation,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ServiceError> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| {
                tracing::debug!(%error, "rejected access token");
                ServiceError::Unauthenticated("invalid or expired access token".into())
            })
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
    fn expired_tokens_are_rejected() {
        let keys = generate_keys().unwrap();
        let verifier = TokenVerifier::from_pem(&keys.public_pem).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "u1".into(),
            email: "a@b.c".into(),
            role: Role::Customer,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now - 120,
            exp: now - 60,
            jti: "j".into(),
        };
        let key = EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
        assert!(verifier.verify(&token).is_err());
    }
}

-- The key an Agent joined with: the SHA-256 (hex) of its public key's SubjectPublicKeyInfo. The
-- same Agent asking again with the same token and key, before the token expires and before any
-- host registered with the credential it got, is answered again (its first answer was lost), the
-- unused credential replaced (ADR 0014).
ALTER TABLE join_tokens ADD COLUMN used_by_key_sha256 text;

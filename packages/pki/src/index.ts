export {
  CertificateAuthority,
  type CertificateAuthorityMaterial,
  type CertificateRequest,
  type CertificateUsage,
  type IssuedCertificate,
} from './certificate-authority.js';
export { generateKeyPair, type KeyPairPem } from './key-pair.js';

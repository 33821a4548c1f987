/** Makes bearer secrets: a recognisable prefix and 256 random bits (base64url). */
export interface SecretGenerator {
  newSecret(prefix: string): string;
}

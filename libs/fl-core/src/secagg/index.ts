/**
 * `@murmur/fl-core/secagg`: the client and server stage machines, their messages and parameters.
 * Shamir sharing, key derivation, the mask PRG, word packing and the Harary graph stay inside the
 * folder; the in-process round driver (`runSecAggRound`) is `@murmur/fl-core/testing`.
 */
export {
  createSecAggClient,
  secAggClientStep,
  SHARE_CIPHERTEXT_BYTES,
  type SecAggClientState,
  type SecAggClientStage,
  type SecAggClientOptions,
  type SecAggClientStepOptions,
  type SecAggClientStepResult,
  type HeldShares,
} from './client';
export {
  createSecAggServer,
  secAggServerStep,
  pendingClients,
  heldShareKinds,
  type SecAggServerState,
  type SecAggServerStage,
  type SecAggServerEvent,
  type SecAggServerStepOptions,
  type SecAggServerStepResult,
  type SecAggResult,
  type AdvertisedKeys,
  type SharedCiphertexts,
  type UnmaskResponse,
  type Outbound,
} from './server';
export {
  createPeerCertificateCache,
  createCertificateLedger,
  certificateRef,
  CERTIFICATE_REF_BYTES,
  CERTIFICATE_CACHE_ID_BYTES,
  MAX_CACHED_CERTIFICATES,
  type PeerCertificateCache,
  type CertificateLedger,
} from './certificates';
export { parseRoundConfig, topologyOf, type RoundConfigInput, type Topology } from './config';
export {
  roundConfigSchema,
  graphSchema,
  advertiseKeysSchema,
  receivedAdvertiseKeysSchema,
  shareKeysSchema,
  maskedInputSchema,
  unmaskSchema,
  peerKeysSchema,
  encryptedSharesSchema,
  unmaskRequestSchema,
  abortSchema,
  clientToServerSchemas,
  serverToClientSchemas,
  MAX_CLIENTS,
  type RoundConfig,
  type ClientToServerMessage,
  type ServerToClientMessage,
  type AdvertiseKeysMessage,
  type ReceivedAdvertiseKeysMessage,
  type ShareKeysMessage,
  type MaskedInputMessage,
  type UnmaskMessage,
  type PeerKeysMessage,
  type EncryptedSharesMessage,
  type UnmaskRequestMessage,
  type AbortMessage,
} from './messages';
export { secAggError, type SecAggError, type SecAggErrorCode } from './errors';
export { defaultSuite, nobleSuite, type CryptoSuite } from './crypto';
export { wordBytes } from './bytes';
export { secAggPlusParameters, secAggPlusOptionsSchema, type SecAggPlusOptions, type SecAggPlusParameters } from './params';

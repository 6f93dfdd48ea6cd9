/** The per-host verifier (k.verifier when KernelConfig.verifier). */
export {
  Verifier,
  type VerifierFinding,
  VERIFIER_POOL_LEAKED_AT_UNLOAD,
  DMA_VIOLATION_ILLEGAL_DMA,
  DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD,
  DMA_FAULT_FREE_PAGE,
  DMA_FAULT_UNLOCKED_PAGE,
  FINDING_ONLY,
} from './verifier.ts';

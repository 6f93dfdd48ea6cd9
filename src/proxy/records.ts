/**
 * The driver's per-request records: one nonpaged block per registration (TAG_REGISTRATION,
 * REGISTER_BUFFER) and per low-memory allocation (TAG_ALLOCATION, ALLOCATE_MEMORY), taken from
 * two LOOKASIDE_LIST_EX lists the driver initializes in DriverEntry and deletes in DriverUnload —
 * what the WDK tells a driver to do with fixed-size blocks it allocates and frees per request.
 * [kernel: "Using Lookaside Lists"; ddi/wdm nf-wdm-exinitializelookasidelistex,
 * nf-wdm-exallocatefromlookasidelistex, nf-wdm-exfreetolookasidelistex, nf-wdm-exdeletelookasidelistex]
 *
 * Parameters\LookasideLists (DWORD, default 1) = 0 turns the lists off: the records are then
 * ExAllocatePool2 / ExFreePoolWithTag blocks, one per request (the `ioctl` benchmark compares
 * both in one run). Under Driver Verifier the lists exist but keep Depth 0, so every record is an
 * ordinary pool block that Pool Tracking sees.
 *
 * The lists live in the driver image (a global of the driver, `address` null), so no pool free can
 * take them away while active. The records are never read or written by the driver beyond their
 * existence (the bookkeeping lives in ProxyOpen), so a record from the list is not initialized
 * (ExAllocatePoolWithTag), one from ExAllocatePool2 is zeroed: neither is visible.
 */
import {
  ExAllocateFromLookasideListEx,
  ExDeleteLookasideListEx,
  ExFreeToLookasideListEx,
  ExInitializeLookasideListEx,
  LOOKASIDE_LIST_EX,
  lookasideOutstandingCount,
} from '../kernel/ex/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { ExAllocatePool2, ExFreePoolWithTag, NonPagedPoolNx, POOL_FLAG_NON_PAGED } from '../kernel/mm/index.ts';
import { NT_SUCCESS, STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import { TAG_ALLOCATION, TAG_REGISTRATION } from './constants.ts';

/** Bytes of one record. */
export const RECORD_BYTES = 64;

export type RecordKind = 'registration' | 'allocation';

const TAGS: Readonly<Record<RecordKind, number>> = { registration: TAG_REGISTRATION, allocation: TAG_ALLOCATION };

/** The driver's record allocator: its two lists, or plain pool when the lists are off. */
export class ProxyRecords {
  readonly registrations = new LOOKASIDE_LIST_EX();
  readonly allocations = new LOOKASIDE_LIST_EX();
  /** The lists are initialized (and must be deleted at unload). */
  private initialized = false;

  constructor(
    private readonly k: Kernel,
    /** Parameters\LookasideLists: the records come from the lists (true) or from pool. */
    readonly lookaside: boolean,
  ) {}

  private list(kind: RecordKind): LOOKASIDE_LIST_EX {
    return kind === 'registration' ? this.registrations : this.allocations;
  }

  /**
   * DriverEntry: ExInitializeLookasideListEx for both lists (nonpaged no-execute, RECORD_BYTES,
   * the record's tag, system-chosen depth). A failure leaves nothing initialized.
   */
  initialize(): NTSTATUS {
    if (!this.lookaside) return STATUS_SUCCESS;
    const k = this.k;
    let status = ExInitializeLookasideListEx(k, this.registrations, null, null, NonPagedPoolNx, 0, RECORD_BYTES, TAG_REGISTRATION, 0);
    if (!NT_SUCCESS(status)) return status;
    status = ExInitializeLookasideListEx(k, this.allocations, null, null, NonPagedPoolNx, 0, RECORD_BYTES, TAG_ALLOCATION, 0);
    if (!NT_SUCCESS(status)) {
      ExDeleteLookasideListEx(k, this.registrations);
      return status;
    }
    this.initialized = true;
    return STATUS_SUCCESS;
  }

  /** A record's VA, or null when none can be had (the request fails with STATUS_INSUFFICIENT_RESOURCES). */
  allocate(kind: RecordKind): number | null {
    if (this.initialized) return ExAllocateFromLookasideListEx(this.k, this.list(kind));
    return ExAllocatePool2(this.k, POOL_FLAG_NON_PAGED, RECORD_BYTES, TAGS[kind]);
  }

  /** Give a record back to where it came from. */
  free(kind: RecordKind, va: number): void {
    if (this.initialized) ExFreeToLookasideListEx(this.k, this.list(kind), va);
    else ExFreePoolWithTag(this.k, va, TAGS[kind]);
  }

  /** Records handed out and not freed (must be 0 at unload). */
  outstanding(): number {
    if (!this.initialized) return 0;
    return lookasideOutstandingCount(this.k, this.registrations) + lookasideOutstandingCount(this.k, this.allocations);
  }

  /** DriverUnload (or a failed DriverEntry): every record is back; the lists free their cached entries. */
  delete(): void {
    if (!this.initialized) return;
    this.initialized = false;
    ExDeleteLookasideListEx(this.k, this.registrations);
    ExDeleteLookasideListEx(this.k, this.allocations);
  }

  /** Whether the lists are initialized now (tests, reports). */
  get active(): boolean {
    return this.initialized;
  }
}

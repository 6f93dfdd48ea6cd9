/**
 * Lookaside lists: ExInitializeNPagedLookasideList / ExInitializePagedLookasideList and their
 * allocate, free and delete routines, and the LOOKASIDE_LIST_EX family (ExInitializeLookasideListEx,
 * ExAllocateFromLookasideListEx, ExFreeToLookasideListEx, ExFlushLookasideListEx,
 * ExDeleteLookasideListEx). [ddi/wdm nf-wdm-exinitializenpagedlookasidelist,
 * nf-wdm-exinitializelookasidelistex, nf-wdm-exallocatefromlookasidelistex,
 * nf-wdm-exfreetolookasidelistex, nf-wdm-exflushlookasidelistex, nf-wdm-exdeletelookasidelistex;
 * kernel: "Using Lookaside Lists"; debugger: Bug Check 0xC4 parameters 0xCA-0xCD]
 *
 * Why one file of this size: the classic and _EX families are two faces of one GENERAL_LOOKASIDE
 * with one set of counters, Depth rules and Driver Verifier checks; the system lists and the
 * balance-set scan act on the same structure.
 *
 * Implementation notes
 * - A list is the WDK structure (`L`, a GENERAL_LOOKASIDE with Depth, MaximumDepth and the
 *   counters TotalAllocates, AllocateMisses (= AllocateHits, one union), TotalFrees, FreeMisses
 *   (= FreeHits), Type, Tag, Size, Allocate/Free) plus, kept by this module and not visible in
 *   the structure, the cached entries (a stack of VAs: the SLIST) and the entries it handed out.
 * - Allocate: TotalAllocates + 1; pop a cached entry, or count a miss (AllocateMisses + 1) and
 *   call the list's Allocate routine (default ExAllocatePoolWithTag(Type, Size, Tag)). Free:
 *   TotalFrees + 1; push when fewer than Depth entries are cached, else count a miss (FreeMisses
 *   + 1) and call the Free routine (default ExFreePool). Delete and flush hand every cached entry
 *   to the Free routine. The counters move even when the Allocate routine then fails, as in
 *   Windows: they are statistics for `!lookaside`, not accounting.
 * - Depth and MaximumDepth follow Windows (facts learned from the public lookaside sources and
 *   the Windows binaries' behaviour, in our own code): a new list starts at Depth 4
 *   (ExMinimumLookasideDepth) with MaximumDepth 256 for the classic lists (their Depth argument
 *   is ignored) and 256 or the Depth argument (256..1024) for LOOKASIDE_LIST_EX. The balance set
 *   manager retunes Depth once per scan period from the allocations and misses since the last
 *   scan (`balanceSetManagerScan`): below 25 allocations per second of the period Depth drops
 *   by 10, a miss rate under 0.5% drops it by 1, otherwise it grows by
 *   min(30, rate * (MaximumDepth - Depth) / 2000 + 5); never below 4 nor above MaximumDepth.
 *   The model has no clock: the host (or a test) calls the scan to stand for that periodic pass.
 * - Driver Verifier (KernelConfig.verifier): Windows then sets ExMinimumLookasideDepth to 0 —
 *   "disable lookasides so driver problems can be isolated" — so every list keeps Depth 0, every
 *   free goes back to pool and Pool Tracking sees every block. Verifier also tracks the lists:
 *   initializing an active list again is 0xC4/0xCA (P2 the list), deleting a list that is not
 *   active is 0xC4/0xCB, freeing a pool block that holds an active list is 0xC4/0xCC (P2 list,
 *   P3 block, P4 block size), and a LOOKASIDE_LIST_EX entry size below LOOKASIDE_MINIMUM_BLOCK_SIZE is
 *   0xC4/0xCD (P2 list, P3 size, P4 the minimum).
 * - Leak accounting: a cached entry is allocated pool that belongs to the list, not a leak of the
 *   driver's: `k.mm.pool` marks it (PoolBlockInfo.lookaside, Pool.lookasideCachedBytes) until the
 *   list hands it out again or frees it; deleting the list frees them all. Entries a driver still
 *   holds when it deletes the list are the driver's pool allocations: Windows does not notice at
 *   delete time, Pool Tracking stops at unload with 0xC4/0x62. The model records a verifier
 *   finding at the delete ('lookaside-deleted-with-entries-outstanding') so the author sees where.
 * - An entry freed to a list other than the one it came from: Windows pushes it (without the
 *   verifier a later allocation hands out a block of the wrong size or tag) or, under the
 *   verifier, frees it to pool, which accepts any block; no stop. The model does the same and
 *   records a verifier finding ('lookaside-free-to-wrong-list').
 * - A list still active when its driver has unloaded: the next balance-set scan touches the
 *   unloaded driver's memory — Bug Check 0xCE DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS
 *   (its page names lookaside lists among the things a driver must cancel before unload).
 * - Pushing an entry writes its SLIST link into the entry's first bytes: an entry that is not
 *   mapped system memory faults, PAGE_FAULT_IN_NONPAGED_AREA (0x50), before anything changes.
 * - System lists (ExInitializeSystemLookasideList): the kernel's own lists — the I/O
 *   manager's small-IRP, large-IRP and MDL lists (io/io-lookaside.ts) — are GENERAL_LOOKASIDE
 *   structures on the system list head that the balance set manager scans like any other, with
 *   Depth starting at ExMinimumLookasideDepth and the MaximumDepth their initializer gives.
 *   Their users pop and push entries themselves (IopAllocateIrpPrivate / IoFreeIrp,
 *   ExAllocateFromPPLookasideList for MDLs) and go to pool on a miss: `popSystemEntry` /
 *   `pushSystemEntry`. They are never deleted, are not a driver's, and `counters()` (the
 *   driver-initialized lists) leaves them out; `systemCounters()` reports them.
 * - ExMinimumLookasideDepth (`setMinimumDepth`): the floor of every list's Depth, 4 — 0 under
 *   Driver Verifier. Windows keeps it in a kernel variable (nt!ExMinimumLookasideDepth) that a
 *   kernel debugger can set; lists initialized afterwards start at it and the next balance-set
 *   scan applies it to the others. With 0 every list stays at Depth 0 and caches nothing: every
 *   entry comes from and goes back to pool, which is how the `ioctl` benchmark measures the
 *   path without caches (verifier off).
 */
import {
  DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, DRIVER_VERIFIER_DETECTED_VIOLATION, IRQL_NOT_LESS_OR_EQUAL,
  PAGE_FAULT_IN_NONPAGED_AREA,
} from '../bugcheck.ts';
import type { DRIVER_OBJECT } from '../io/driver-object.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import type { Kernel } from '../kernel.ts';
import { isUlong } from '../ulong.ts';
import {
  ExAllocatePoolWithTag, ExFreePool, NonPagedPool, PagedPool, POOL_QUOTA_FAIL_INSTEAD_OF_RAISE,
  POOL_RAISE_IF_ALLOCATION_FAILURE, poolTagText,
} from '../mm/pool.ts';
import { MM_SYSTEM_RANGE_START } from '../mm/system-space.ts';
import {
  ExRaiseStatus, STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_4,
  STATUS_INVALID_PARAMETER_5, STATUS_INVALID_PARAMETER_6, STATUS_INVALID_PARAMETER_7, STATUS_INVALID_PARAMETER_8,
  STATUS_SUCCESS, type NTSTATUS,
} from '../status.ts';

/** PALLOCATE_FUNCTION: (PoolType, NumberOfBytes, Tag) → entry VA or NULL. */
export type PALLOCATE_FUNCTION = (PoolType: number, NumberOfBytes: number, Tag: number) => number | null;
/** PFREE_FUNCTION: (Buffer). */
export type PFREE_FUNCTION = (Buffer: number) => void;
/** PALLOCATE_FUNCTION_EX: (PoolType, NumberOfBytes, Tag, Lookaside) → entry VA or NULL. */
export type PALLOCATE_FUNCTION_EX = (PoolType: number, NumberOfBytes: number, Tag: number, Lookaside: LOOKASIDE_LIST_EX) => number | null;
/** PFREE_FUNCTION_EX: (Buffer, Lookaside). */
export type PFREE_FUNCTION_EX = (Buffer: number, Lookaside: LOOKASIDE_LIST_EX) => void;

/** ExInitializeLookasideListEx Flags. */
export const EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL = 0x1;
export const EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE = 0x2;

/** ExMinimumLookasideDepth without Driver Verifier. */
export const MINIMUM_LOOKASIDE_DEPTH = 4;
/** MaximumDepth of a classic list, and of a LOOKASIDE_LIST_EX initialized with Depth 0. */
export const DEFAULT_LOOKASIDE_MAXIMUM_DEPTH = 256;
/** Largest Depth ExInitializeLookasideListEx accepts. */
export const MAXIMUM_LOOKASIDE_DEPTH_EX = 1024;
/** Fewer allocations than this per second of a scan period lower Depth by 10. */
export const MINIMUM_ALLOCATION_THRESHOLD = 25;
/** The general lists' scan period, in seconds. */
export const GENERAL_LOOKASIDE_SCAN_PERIOD = 3;
/**
 * LOOKASIDE_MINIMUM_BLOCK_SIZE (wdm.h: RTL_SIZEOF_THROUGH_FIELD(SLIST_ENTRY, Next), 8 on x64): the
 * smallest entry a list can link through; the size Wine's driver.c test_lookaside_list initializes
 * lists with. Below it Driver Verifier stops with 0xC4/0xCD.
 */
export const LOOKASIDE_MINIMUM_BLOCK_SIZE = 8;

/** 0xC4 Parameter 1 values for lookaside lists. */
export const VERIFIER_LOOKASIDE_REINITIALIZED = 0xca;
export const VERIFIER_LOOKASIDE_DELETE_UNINITIALIZED = 0xcb;
export const VERIFIER_LOOKASIDE_IN_FREED_POOL = 0xcc;
export const VERIFIER_LOOKASIDE_BLOCK_TOO_SMALL = 0xcd;

/**
 * GENERAL_LOOKASIDE: the fields a driver (or `!lookaside`) reads. AllocateHits and FreeHits are
 * the other names of AllocateMisses and FreeMisses (one union each in wdm.h); which one a
 * Windows version counts is named by the field it documents — since Windows XP the misses.
 */
export class GENERAL_LOOKASIDE {
  Depth = 0;
  MaximumDepth = 0;
  TotalAllocates = 0;
  AllocateMisses = 0;
  TotalFrees = 0;
  FreeMisses = 0;
  /** POOL_TYPE passed to Allocate (with the RAISE / QUOTA modifier bits of the flags). */
  Type = 0;
  Tag = 0;
  Size = 0;
  Allocate: PALLOCATE_FUNCTION | null = null;
  Free: PFREE_FUNCTION | null = null;
  AllocateEx: PALLOCATE_FUNCTION_EX | null = null;
  FreeEx: PFREE_FUNCTION_EX | null = null;
  LastTotalAllocates = 0;
  LastAllocateMisses = 0;

  get AllocateHits(): number {
    return this.AllocateMisses;
  }
  set AllocateHits(v: number) {
    this.AllocateMisses = v;
  }
  get FreeHits(): number {
    return this.FreeMisses;
  }
  set FreeHits(v: number) {
    this.FreeMisses = v;
  }
}

/**
 * The storage a driver provides for a list (wdm.h: nonpaged, 16-byte aligned on x64). `address`
 * says where the structure lives — a VA inside the driver's pool block or device extension, so
 * Driver Verifier can catch that block being freed while the list is active (0xC4/0xCC) — or
 * null for storage in the driver image (a global), which no pool free can take away.
 */
abstract class LookasideStorage {
  readonly L = new GENERAL_LOOKASIDE();
  constructor(readonly address: number | null = null) {}
}
export class NPAGED_LOOKASIDE_LIST extends LookasideStorage {}
export class PAGED_LOOKASIDE_LIST extends LookasideStorage {}
export class LOOKASIDE_LIST_EX extends LookasideStorage {}

type AnyList = NPAGED_LOOKASIDE_LIST | PAGED_LOOKASIDE_LIST | LOOKASIDE_LIST_EX;
/** One of the three list structures (the class a routine takes). */
type ListClass = new (...a: never[]) => AnyList;
type Kind = 'npaged' | 'paged' | 'ex';

/** What the kernel keeps for one list (not part of the WDK structure). */
interface ListState {
  readonly id: number;
  readonly kind: Kind;
  /** Cached entries, most recently freed last (an SLIST pops the last push). */
  readonly cache: number[];
  /** Entries handed out and not yet freed back to this list. */
  readonly outstanding: Set<number>;
  readonly driver: string | null;
  /** The driver object of `driver` at initialization (its unload is noticed by the scan). */
  readonly driverObject: DRIVER_OBJECT | null;
  /** A kernel list (ExInitializeSystemLookasideList): never deleted, not a driver's. */
  readonly system: boolean;
  active: boolean;
}

export interface LookasideCounters {
  /** Lists drivers initialized and did not delete (the kernel's system lists are not counted). */
  activeLists: number;
  /** Entries held in the caches of those lists. */
  cachedEntries: number;
}

/** One of the kernel's system lists as `!lookaside` shows it. */
export interface SystemLookasideCounters {
  tag: string;
  size: number;
  depth: number;
  maximumDepth: number;
  cachedEntries: number;
  totalAllocates: number;
  allocateMisses: number;
  totalFrees: number;
  freeMisses: number;
}

const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

/** Synthetic structure addresses for lists kept outside pool (bug-check parameters). */
const LIST_ADDRESS_BASE = 0xfaa0_0000_0000;

/** One host's lookaside lists: the system-wide set of active lists Windows keeps and scans. */
export class LookasideManager {
  private readonly states = new WeakMap<AnyList, ListState>();
  private readonly active = new Map<number, AnyList>();
  /** Entry VA → the list that handed it out (wrong-list frees are noticed through this). */
  private readonly handedOutBy = new Map<number, number>();
  private nextId = 1;
  /** ExMinimumLookasideDepth once set (setMinimumDepth); null = the boot value. */
  private exMinimumLookasideDepth: number | null = null;

  constructor(private readonly k: Kernel) {}

  /** ExMinimumLookasideDepth: 0 under Driver Verifier, which disables lookaside caching. */
  get minimumDepth(): number {
    // Driver Verifier: "disable lookasides so driver problems can be isolated".
    return this.exMinimumLookasideDepth ?? (this.k.config.verifier ? 0 : MINIMUM_LOOKASIDE_DEPTH);
  }

  /**
   * Set ExMinimumLookasideDepth (see the notes): lists initialized afterwards start at `depth`,
   * the next balanceSetManagerScan applies it to every active list. 0 turns every cache off, as
   * Driver Verifier does. An integer 0..256, else a RangeError (a model control, like a kernel
   * debugger's write to the variable, not a kernel routine).
   */
  setMinimumDepth(depth: number): void {
    if (!Number.isInteger(depth) || depth < 0 || depth > DEFAULT_LOOKASIDE_MAXIMUM_DEPTH) {
      throw new RangeError(`ExMinimumLookasideDepth must be an integer in [0, ${DEFAULT_LOOKASIDE_MAXIMUM_DEPTH}], got ${String(depth)}`);
    }
    this.exMinimumLookasideDepth = depth;
  }

  counters(): LookasideCounters {
    let activeLists = 0;
    let cachedEntries = 0;
    for (const list of this.active.values()) {
      const state = this.states.get(list)!;
      if (state.system) continue;
      activeLists++;
      cachedEntries += state.cache.length;
    }
    return { activeLists, cachedEntries };
  }

  /** The kernel's system lists (the I/O manager's IRP and MDL lists), by tag. */
  systemCounters(): SystemLookasideCounters[] {
    const out: SystemLookasideCounters[] = [];
    for (const list of this.active.values()) {
      const state = this.states.get(list)!;
      if (!state.system) continue;
      const L = list.L;
      out.push({
        tag: poolTagText(L.Tag), size: L.Size, depth: L.Depth, maximumDepth: L.MaximumDepth, cachedEntries: state.cache.length,
        totalAllocates: L.TotalAllocates, allocateMisses: L.AllocateMisses, totalFrees: L.TotalFrees, freeMisses: L.FreeMisses,
      });
    }
    return out;
  }

  /**
   * @internal ExInitializeSystemLookasideList(List, Type, Size, Tag, MaximumDepth, &ExSystemLookasideListHead):
   * a kernel list with Depth ExMinimumLookasideDepth (ReactOS ntoskrnl/ex/lookas.c). Its users
   * pop and push through popSystemEntry / pushSystemEntry and allocate from pool themselves on
   * a miss.
   */
  initializeSystemList(list: NPAGED_LOOKASIDE_LIST, Type: number, Size: number, Tag: number, MaximumDepth: number): void {
    this.register(list, 'npaged', true);
    const L = list.L;
    L.Depth = this.minimumDepth;
    L.MaximumDepth = MaximumDepth;
    L.Type = Type;
    L.Tag = Tag;
    L.Size = Size;
  }

  /**
   * @internal Pop an entry of a system list (InterlockedPopEntrySList with the list's counters):
   * TotalAllocates + 1, the last entry pushed, or AllocateMisses + 1 and null — the caller then
   * allocates from pool. The entry leaves the list's cache (its pool block is in use again).
   */
  popSystemEntry(list: NPAGED_LOOKASIDE_LIST): number | null {
    const state = this.states.get(list)!;
    const L = list.L;
    L.TotalAllocates = (L.TotalAllocates + 1) >>> 0;
    while (state.cache.length > 0) {
      const va = state.cache.pop()!;
      // An entry someone freed to pool behind the list's back is not handed out (see allocateEntry).
      if (this.k.mm.pool.cachedByAt(va) === state.id) {
        this.k.mm.pool.setCachedBy(va, 0);
        return va;
      }
    }
    L.AllocateMisses = (L.AllocateMisses + 1) >>> 0;
    return null;
  }

  /**
   * @internal Push an entry to a system list: TotalFrees + 1; cached (true) while fewer than
   * Depth entries are, else FreeMisses + 1 and false — the caller frees it to pool.
   */
  pushSystemEntry(list: NPAGED_LOOKASIDE_LIST, va: number): boolean {
    const state = this.states.get(list)!;
    const L = list.L;
    L.TotalFrees = (L.TotalFrees + 1) >>> 0;
    if (state.cache.length >= L.Depth) {
      L.FreeMisses = (L.FreeMisses + 1) >>> 0;
      return false;
    }
    state.cache.push(va);
    this.k.mm.pool.setCachedBy(va, state.id);
    return true;
  }

  /** The address a bug check names for a list. */
  addressOf(list: AnyList): number {
    return list.address ?? LIST_ADDRESS_BASE + (this.states.get(list)?.id ?? 0) * 0x80;
  }

  /** Active lists whose structure lies in [va, va + bytes): Driver Verifier's 0xC4/0xCC check. */
  activeListIn(va: number, bytes: number): AnyList | null {
    for (const list of this.active.values()) {
      if (list.address !== null && list.address >= va && list.address < va + bytes) return list;
    }
    return null;
  }

  /** @internal */
  stateOf(list: AnyList): ListState | undefined {
    return this.states.get(list);
  }

  /** @internal a new (or re-initialized) list becomes active. */
  register(list: AnyList, kind: Kind, system = false): ListState {
    const previous = this.states.get(list);
    if (previous?.active) {
      // Re-initializing an active list (without the verifier): Windows re-links the structure
      // and forgets the cached entries (they stay allocated: leaked). The model does the same.
      this.active.delete(previous.id);
      for (const va of previous.cache) this.k.mm.pool.setCachedBy(va, 0);
    }
    const state: ListState = {
      id: this.nextId++, kind, cache: [], outstanding: new Set(), driver: system ? null : this.k.currentDriver,
      driverObject: system ? null : this.k.io.currentDriverObject(), system, active: true,
    };
    this.states.set(list, state);
    this.active.set(state.id, list);
    return state;
  }

  /** @internal */
  unregister(state: ListState): void {
    state.active = false;
    this.active.delete(state.id);
  }

  /** @internal an entry leaves list `state` (allocated from it). */
  noteHandedOut(state: ListState, va: number): void {
    state.outstanding.add(va);
    this.handedOutBy.set(va, state.id);
  }

  /** @internal an entry comes back to `state`; the list it came from, if another one. */
  noteReturned(state: ListState, va: number): ListState | null {
    const from = this.handedOutBy.get(va);
    this.handedOutBy.delete(va);
    state.outstanding.delete(va);
    if (from === undefined || from === state.id) return null;
    const other = this.active.get(from);
    const otherState = other ? this.states.get(other) ?? null : null;
    otherState?.outstanding.delete(va);
    return otherState;
  }

  /**
   * One pass of the balance set manager over the general lists (Windows: every scan period,
   * driven by KeBalanceSetManager). Computes each active list's new Depth from the allocations
   * and misses since the previous pass.
   */
  balanceSetManagerScan(scanPeriod = GENERAL_LOOKASIDE_SCAN_PERIOD): void {
    for (const list of this.active.values()) {
      const owner = this.states.get(list)!.driverObject;
      if (owner !== null && owner.io.state === 'unloaded') {
        // The list lives in (or is used by) a driver that unloaded without deleting it: the scan
        // touches memory that is gone. Bug Check 0xCE: "a driver failed to cancel lookaside
        // lists, DPCs, worker threads, or other such items before unload" (P1 the address
        // referenced, P2 0 = read).
        this.k.bugcheck.KeBugCheckEx(DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, this.addressOf(list), 0, 0, 0,
          `lookaside list ${hex(this.addressOf(list))} of driver ${owner.DriverName} is still active after the driver unloaded`);
      }
      const L = list.L;
      const misses = (L.AllocateMisses - L.LastAllocateMisses) >>> 0;
      L.LastAllocateMisses = L.AllocateMisses;
      L.Depth = computeLookasideDepth(L, misses, scanPeriod, this.minimumDepth);
      // A smaller Depth does not trim the cache at once (Windows frees the surplus only as
      // entries come back); the cache can hold more than Depth until then.
    }
  }
}

/**
 * ExpComputeLookasideDepth, as Windows tunes a list (see the notes): consumes
 * TotalAllocates - LastTotalAllocates and returns the new Depth. `minimumDepth` 0 (verifier)
 * pins Depth at 0.
 */
export function computeLookasideDepth(L: GENERAL_LOOKASIDE, misses: number, scanPeriod: number, minimumDepth: number): number {
  const allocates = (L.TotalAllocates - L.LastTotalAllocates) >>> 0;
  L.LastTotalAllocates = L.TotalAllocates;
  if (minimumDepth === 0) return 0;
  const maximum = L.MaximumDepth;
  let target = L.Depth;
  if (allocates < scanPeriod * MINIMUM_ALLOCATION_THRESHOLD) {
    target = Math.max(target - 10, minimumDepth);
  } else {
    const ratio = Math.floor((misses * 1000) / allocates);
    if (ratio < 5) {
      target = Math.max(target - 1, minimumDepth);
    } else {
      const delta = Math.min(30, Math.floor((ratio * Math.max(0, maximum - target)) / 2000) + 5);
      target = Math.min(target + delta, maximum);
    }
  }
  return target;
}

function lookasideManager(k: Kernel): LookasideManager {
  return k.lookaside;
}

function checkIrql(k: Kernel, max: number, routine: string): void {
  if (k.irql > max) {
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0,
      `${routine} called at IRQL ${k.irql}; it requires IRQL <= ${max === APC_LEVEL ? 'APC_LEVEL' : 'DISPATCH_LEVEL'}`);
  }
}

function checkStorage(list: unknown, cls: ListClass, routine: string): asserts list is AnyList {
  if (!(list instanceof cls)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: Lookaside is not a ${cls.name} structure`);
  }
}


/** The list a routine was handed, known to this host (initialized at least once), or an access violation. */
function stateFor(k: Kernel, list: AnyList, routine: string): ListState {
  const state = lookasideManager(k).stateOf(list);
  // A structure never initialized holds zeroes: Allocate is NULL and the call jumps to 0.
  if (!state) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: lookaside list was never initialized`);
  return state;
}

/** Common initialization of the three kinds; arguments validated by the caller. */
function initialize(k: Kernel, list: AnyList, kind: Kind, type: number, size: number, tag: number, maximumDepth: number,
                    allocate: PALLOCATE_FUNCTION | null, free: PFREE_FUNCTION | null,
                    allocateEx: PALLOCATE_FUNCTION_EX | null, freeEx: PFREE_FUNCTION_EX | null, routine: string): void {
  const m = lookasideManager(k);
  const previous = m.stateOf(list);
  if (k.config.verifier && previous?.active) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_LOOKASIDE_REINITIALIZED, m.addressOf(list), 0, 0,
      `${routine}: lookaside list ${hex(m.addressOf(list))} is already initialized (delete it first)`);
  }
  m.register(list, kind);
  // Every other field as in a fresh structure: the counters start again from zero.
  Object.assign(list.L, new GENERAL_LOOKASIDE(), {
    Depth: m.minimumDepth, MaximumDepth: maximumDepth, Type: type, Tag: tag, Size: size,
    Allocate: allocate, Free: free, AllocateEx: allocateEx, FreeEx: freeEx,
  } satisfies Partial<GENERAL_LOOKASIDE>);
}

/** The classic initializers' shared checks (VOID routines: bad arguments raise). */
function initializeClassic(k: Kernel, list: unknown, cls: typeof NPAGED_LOOKASIDE_LIST | typeof PAGED_LOOKASIDE_LIST,
                           kind: 'npaged' | 'paged', Allocate: PALLOCATE_FUNCTION | null, Free: PFREE_FUNCTION | null,
                           Flags: number, Size: number, Tag: number, Depth: number, routine: string): void {
  k.bugcheck.assertRunning();
  checkIrql(k, kind === 'paged' ? APC_LEVEL : DISPATCH_LEVEL, routine);
  checkStorage(list, cls, routine);
  if ((Allocate !== null && typeof Allocate !== 'function') || (Free !== null && typeof Free !== 'function') ||
      !isUlong(Flags) || !isUlong(Size) || !isUlong(Tag) || !Number.isInteger(Depth) || Depth < 0 || Depth > 0xffff) {
    ExRaiseStatus(STATUS_INVALID_PARAMETER, `${routine}: an argument is not of its C type`);
  }
  // Flags are pool modifiers merged into the base type (POOL_NX_ALLOCATION,
  // POOL_RAISE_IF_ALLOCATION_FAILURE); Depth is reserved and ignored.
  const base = kind === 'paged' ? PagedPool : NonPagedPool;
  initialize(k, list, kind, base | Flags, Size, Tag, DEFAULT_LOOKASIDE_MAXIMUM_DEPTH, Allocate, Free, null, null, routine);
}

/**
 * ExInitializeNPagedLookasideList(k, Lookaside, Allocate, Free, Flags, Size, Tag, Depth)
 * (IRQL <= DISPATCH_LEVEL). Allocate / Free NULL mean ExAllocatePoolWithTag / ExFreePool;
 * Depth is ignored (Depth starts at 4, MaximumDepth 256).
 *
 * ```ts
 * const requests = new NPAGED_LOOKASIDE_LIST();
 * ExInitializeNPagedLookasideList(k, requests, null, null, POOL_NX_ALLOCATION, 256, poolTag('SPrq'), 0);
 * const entry = ExAllocateFromNPagedLookasideList(k, requests);   // VA or null
 * if (entry !== null) ExFreeToNPagedLookasideList(k, requests, entry);
 * ExDeleteNPagedLookasideList(k, requests);                        // before unload
 * ```
 */
export function ExInitializeNPagedLookasideList(k: Kernel, Lookaside: NPAGED_LOOKASIDE_LIST, Allocate: PALLOCATE_FUNCTION | null,
  Free: PFREE_FUNCTION | null, Flags: number, Size: number, Tag: number, Depth: number): void {
  initializeClassic(k, Lookaside, NPAGED_LOOKASIDE_LIST, 'npaged', Allocate, Free, Flags, Size, Tag, Depth,
    'ExInitializeNPagedLookasideList');
}

/** ExInitializePagedLookasideList (IRQL <= APC_LEVEL): as the nonpaged form, entries from paged pool. */
export function ExInitializePagedLookasideList(k: Kernel, Lookaside: PAGED_LOOKASIDE_LIST, Allocate: PALLOCATE_FUNCTION | null,
  Free: PFREE_FUNCTION | null, Flags: number, Size: number, Tag: number, Depth: number): void {
  initializeClassic(k, Lookaside, PAGED_LOOKASIDE_LIST, 'paged', Allocate, Free, Flags, Size, Tag, Depth,
    'ExInitializePagedLookasideList');
}

/**
 * ExInitializeLookasideListEx(k, Lookaside, Allocate, Free, PoolType, Flags, Size, Tag, Depth)
 * → NTSTATUS (IRQL <= DISPATCH_LEVEL). STATUS_INVALID_PARAMETER_4 for a PoolType with bits
 * other than the base types and NX / cache-aligned / session modifiers (or both low bits set),
 * STATUS_INVALID_PARAMETER_5 for Flags other than 0, RAISE_ON_FAIL or FAIL_NO_RAISE, and — as
 * Windows checks the reserved Depth — STATUS_INVALID_PARAMETER_8 for a Depth that is neither 0
 * nor in [256, 1024]. The flags become POOL_RAISE_IF_ALLOCATION_FAILURE /
 * POOL_QUOTA_FAIL_INSTEAD_OF_RAISE in the type passed to Allocate. Size and Tag that are not a
 * ULONG (impossible in C) are STATUS_INVALID_PARAMETER_6 / _7 here.
 */
export function ExInitializeLookasideListEx(k: Kernel, Lookaside: LOOKASIDE_LIST_EX, Allocate: PALLOCATE_FUNCTION_EX | null,
  Free: PFREE_FUNCTION_EX | null, PoolType: number, Flags: number, Size: number, Tag: number, Depth: number): NTSTATUS {
  const routine = 'ExInitializeLookasideListEx';
  k.bugcheck.assertRunning();
  checkIrql(k, DISPATCH_LEVEL, routine);
  checkStorage(Lookaside, LOOKASIDE_LIST_EX, routine);
  if ((Allocate !== null && typeof Allocate !== 'function') || (Free !== null && typeof Free !== 'function')) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: Allocate / Free is neither a routine nor NULL`);
  }
  if (!Number.isInteger(Depth) || Depth < 0 || Depth > 0xffff || (Depth !== 0 && (Depth < 256 || Depth > MAXIMUM_LOOKASIDE_DEPTH_EX))) {
    return STATUS_INVALID_PARAMETER_8;
  }
  if (!isUlong(Flags) || (Flags !== 0 && Flags !== EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL &&
      Flags !== EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE)) {
    return STATUS_INVALID_PARAMETER_5;
  }
  if (!isUlong(PoolType) || (PoolType & 0xffff_fc18) !== 0 || (PoolType & 3) === 3) return STATUS_INVALID_PARAMETER_4;
  if (!isUlong(Size)) return STATUS_INVALID_PARAMETER_6;
  if (!isUlong(Tag)) return STATUS_INVALID_PARAMETER_7;
  const m = lookasideManager(k);
  if (k.config.verifier && Size < LOOKASIDE_MINIMUM_BLOCK_SIZE) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_LOOKASIDE_BLOCK_TOO_SMALL, m.addressOf(Lookaside), Size,
      LOOKASIDE_MINIMUM_BLOCK_SIZE, `${routine}: entries of ${Size} bytes cannot hold an SLIST_ENTRY link (${LOOKASIDE_MINIMUM_BLOCK_SIZE})`);
  }
  const modifier = Flags === EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL ? POOL_RAISE_IF_ALLOCATION_FAILURE
    : Flags === EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE ? POOL_QUOTA_FAIL_INSTEAD_OF_RAISE : 0;
  // Windows raises a Size below 8 to 8 (it stores the larger of the two).
  initialize(k, Lookaside, 'ex', PoolType | modifier, Math.max(Size, 8),
    Tag, Depth === 0 ? DEFAULT_LOOKASIDE_MAXIMUM_DEPTH : Depth, null, null, Allocate, Free, routine);
  return STATUS_SUCCESS;
}

const isPagedType = (type: number): boolean => (type & 1) === 1;

/** The entry checks of the allocate / free / flush routines: a `cls` structure this host initialized. */
function enterList(k: Kernel, list: unknown, cls: ListClass, routine: string): ListState {
  k.bugcheck.assertRunning();
  checkStorage(list, cls, routine);
  return stateFor(k, list, routine);
}

/** Allocate from any kind: pop a cached entry or call the Allocate routine. */
function allocateEntry(k: Kernel, list: AnyList, cls: ListClass, routine: string): number | null {
  const state = enterList(k, list, cls, routine);
  const L = list.L;
  checkIrql(k, isPagedType(L.Type) ? APC_LEVEL : DISPATCH_LEVEL, routine);
  L.TotalAllocates = (L.TotalAllocates + 1) >>> 0;
  const m = lookasideManager(k);
  while (state.cache.length > 0) {
    const va = state.cache.pop()!;
    // An entry a driver freed behind the list's back is no longer pool the list owns: the
    // model drops it rather than hand out freed memory (Windows would, silently). Entries a
    // custom Allocate routine carved from other mapped memory are the driver's business.
    const inPool = k.mm.system.lookup(va)?.kind === 'pool';
    const stillCached = inPool ? k.mm.pool.cachedByAt(va) === state.id : k.mm.system.lookup(va) !== null;
    if (stillCached) {
      k.mm.pool.setCachedBy(va, 0);
      m.noteHandedOut(state, va);
      return va;
    }
    k.verifier?.record('lookaside-entry-freed-while-cached', 0, [m.addressOf(list), va, 0, 0],
      `${routine}: cached entry ${hex(va)} of lookaside list ${hex(m.addressOf(list))} was freed to pool while the list held it`);
  }
  L.AllocateMisses = (L.AllocateMisses + 1) >>> 0;
  let va: number | null;
  if (state.kind === 'ex') {
    const routineEx = L.AllocateEx;
    va = routineEx ? routineEx(L.Type, L.Size, L.Tag, list as LOOKASIDE_LIST_EX) : ExAllocatePoolWithTag(k, L.Type, L.Size, L.Tag);
  } else {
    const routineClassic = L.Allocate;
    va = routineClassic ? routineClassic(L.Type, L.Size, L.Tag) : ExAllocatePoolWithTag(k, L.Type, L.Size, L.Tag);
  }
  if (va === null || va === 0) return null;
  if (typeof va !== 'number' || !Number.isSafeInteger(va)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: the list's Allocate routine returned ${String(va)}, not an address`);
  }
  m.noteHandedOut(state, va);
  return va;
}

/** Give an entry to the Free routine (default ExFreePool). */
function releaseEntry(k: Kernel, list: AnyList, state: ListState, va: number): void {
  const L = list.L;
  if (state.kind === 'ex') {
    if (L.FreeEx) L.FreeEx(va, list as LOOKASIDE_LIST_EX);
    else ExFreePool(k, va);
  } else if (L.Free) L.Free(va);
  else ExFreePool(k, va);
}

/** Free to any kind: cache the entry while fewer than Depth are cached, else hand it to Free. */
function freeEntry(k: Kernel, list: AnyList, cls: ListClass, Entry: number, routine: string): void {
  const state = enterList(k, list, cls, routine);
  const L = list.L;
  checkIrql(k, isPagedType(L.Type) ? APC_LEVEL : DISPATCH_LEVEL, routine);
  if (typeof Entry !== 'number' || !Number.isSafeInteger(Entry) || Entry === 0) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: Entry ${String(Entry)} is not an address`);
  }
  const m = lookasideManager(k);
  const cache = state.cache.length < L.Depth;
  if (cache && (Entry < MM_SYSTEM_RANGE_START || k.mm.system.lookup(Entry) === null)) {
    // The SLIST push writes the link into the entry: an unmapped address faults here.
    k.bugcheck.KeBugCheckEx(PAGE_FAULT_IN_NONPAGED_AREA, Entry, 2, 0, 0,
      `${routine}: entry ${hex(Entry)} is not mapped system memory (the list writes its link into it)`);
  }
  L.TotalFrees = (L.TotalFrees + 1) >>> 0;
  const from = m.noteReturned(state, Entry);
  if (from !== null) {
    k.verifier?.record('lookaside-free-to-wrong-list', 0, [m.addressOf(list), Entry, from.id, 0],
      `${routine}: entry ${hex(Entry)} came from another lookaside list (id ${from.id}); freeing it to list ` +
        `${hex(m.addressOf(list))} (Size ${L.Size}, Tag ${hex(L.Tag)}) mixes blocks of different lists`);
  }
  if (cache) {
    state.cache.push(Entry);
    k.mm.pool.setCachedBy(Entry, state.id);
    return;
  }
  L.FreeMisses = (L.FreeMisses + 1) >>> 0;
  releaseEntry(k, list, state, Entry);
}

/** Delete / flush: every cached entry goes to the Free routine. */
function drain(k: Kernel, list: AnyList, state: ListState): void {
  while (state.cache.length > 0) {
    const va = state.cache.pop()!;
    k.mm.pool.setCachedBy(va, 0);
    releaseEntry(k, list, state, va);
  }
}

function deleteList(k: Kernel, list: AnyList, cls: ListClass, routine: string, maxIrql: number): void {
  k.bugcheck.assertRunning();
  checkIrql(k, maxIrql, routine);
  checkStorage(list, cls, routine);
  const m = lookasideManager(k);
  const state = m.stateOf(list);
  if (!state?.active) {
    if (k.config.verifier) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_LOOKASIDE_DELETE_UNINITIALIZED, m.addressOf(list), 0, 0,
        `${routine}: lookaside list ${hex(m.addressOf(list))} is not initialized (or was already deleted)`);
    }
    // Without the verifier: a never-initialized structure has no Free routine to call (an
    // access violation); a deleted one unlinks again and frees nothing.
    if (!state) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: lookaside list was never initialized`);
    return;
  }
  m.unregister(state);
  if (state.outstanding.size > 0) {
    const first = state.outstanding.values().next().value as number;
    k.verifier?.record('lookaside-deleted-with-entries-outstanding', 0, [m.addressOf(list), state.outstanding.size, first, 0],
      `${routine}: lookaside list ${hex(m.addressOf(list))} deleted while ${state.outstanding.size} of its entries are still ` +
        `in use (first ${hex(first)}); they stay pool allocations of the driver`);
  }
  drain(k, list, state);
}

/** ExAllocateFromNPagedLookasideList(k, Lookaside) → entry VA or NULL (IRQL <= DISPATCH_LEVEL). */
export function ExAllocateFromNPagedLookasideList(k: Kernel, Lookaside: NPAGED_LOOKASIDE_LIST): number | null {
  return allocateEntry(k, Lookaside, NPAGED_LOOKASIDE_LIST, 'ExAllocateFromNPagedLookasideList');
}

/** ExFreeToNPagedLookasideList(k, Lookaside, Entry) (IRQL <= DISPATCH_LEVEL). */
export function ExFreeToNPagedLookasideList(k: Kernel, Lookaside: NPAGED_LOOKASIDE_LIST, Entry: number): void {
  freeEntry(k, Lookaside, NPAGED_LOOKASIDE_LIST, Entry, 'ExFreeToNPagedLookasideList');
}

/** ExDeleteNPagedLookasideList(k, Lookaside) (IRQL <= DISPATCH_LEVEL): frees every cached entry. */
export function ExDeleteNPagedLookasideList(k: Kernel, Lookaside: NPAGED_LOOKASIDE_LIST): void {
  deleteList(k, Lookaside, NPAGED_LOOKASIDE_LIST, 'ExDeleteNPagedLookasideList', DISPATCH_LEVEL);
}

/** ExAllocateFromPagedLookasideList(k, Lookaside) → entry VA or NULL (IRQL <= APC_LEVEL). */
export function ExAllocateFromPagedLookasideList(k: Kernel, Lookaside: PAGED_LOOKASIDE_LIST): number | null {
  return allocateEntry(k, Lookaside, PAGED_LOOKASIDE_LIST, 'ExAllocateFromPagedLookasideList');
}

/** ExFreeToPagedLookasideList(k, Lookaside, Entry) (IRQL <= APC_LEVEL). */
export function ExFreeToPagedLookasideList(k: Kernel, Lookaside: PAGED_LOOKASIDE_LIST, Entry: number): void {
  freeEntry(k, Lookaside, PAGED_LOOKASIDE_LIST, Entry, 'ExFreeToPagedLookasideList');
}

/** ExDeletePagedLookasideList(k, Lookaside) (IRQL <= APC_LEVEL). */
export function ExDeletePagedLookasideList(k: Kernel, Lookaside: PAGED_LOOKASIDE_LIST): void {
  deleteList(k, Lookaside, PAGED_LOOKASIDE_LIST, 'ExDeletePagedLookasideList', APC_LEVEL);
}

/** ExAllocateFromLookasideListEx(k, Lookaside) → entry VA or NULL (paged: <= APC_LEVEL, else <= DISPATCH_LEVEL). */
export function ExAllocateFromLookasideListEx(k: Kernel, Lookaside: LOOKASIDE_LIST_EX): number | null {
  return allocateEntry(k, Lookaside, LOOKASIDE_LIST_EX, 'ExAllocateFromLookasideListEx');
}

/** ExFreeToLookasideListEx(k, Lookaside, Entry). */
export function ExFreeToLookasideListEx(k: Kernel, Lookaside: LOOKASIDE_LIST_EX, Entry: number): void {
  freeEntry(k, Lookaside, LOOKASIDE_LIST_EX, Entry, 'ExFreeToLookasideListEx');
}

/** ExFlushLookasideListEx(k, Lookaside): every cached entry goes to the Free routine; the list stays usable. */
export function ExFlushLookasideListEx(k: Kernel, Lookaside: LOOKASIDE_LIST_EX): void {
  const state = enterList(k, Lookaside, LOOKASIDE_LIST_EX, 'ExFlushLookasideListEx');
  checkIrql(k, isPagedType(Lookaside.L.Type) ? APC_LEVEL : DISPATCH_LEVEL, 'ExFlushLookasideListEx');
  drain(k, Lookaside, state);
}

/** ExDeleteLookasideListEx(k, Lookaside) (IRQL <= DISPATCH_LEVEL): frees every cached entry. */
export function ExDeleteLookasideListEx(k: Kernel, Lookaside: LOOKASIDE_LIST_EX): void {
  deleteList(k, Lookaside, LOOKASIDE_LIST_EX, 'ExDeleteLookasideListEx', DISPATCH_LEVEL);
}

/** Cached entries of a list (what `!lookaside` shows as the list's current depth). */
export function lookasideCachedCount(k: Kernel, Lookaside: AnyList): number {
  return lookasideManager(k).stateOf(Lookaside)?.cache.length ?? 0;
}

/** Entries of a list handed out and not yet freed back to it (model helper: what must be 0 before delete). */
export function lookasideOutstandingCount(k: Kernel, Lookaside: AnyList): number {
  return lookasideManager(k).stateOf(Lookaside)?.outstanding.size ?? 0;
}

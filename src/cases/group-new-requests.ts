// The new-request facts of a group of messages committed together (message-handler.ts
// handleGroup), read ONCE for the group (prefetchNewRequests in intake-facts.ts) and handed out
// message by message: each sender's counts of the last hour, whose turn it is, and the ids and
// numbers reserved for first cases. What each decided plan changes (cases opened, the turn moved
// on) is kept here, so a later message of the group sees it as it would have read it from the
// database after the earlier plans were written. Pure: no I/O.
import type { EngineerRef, NewRequestFacts } from './intake-facts.js';
import type { Plan } from './plan.js';

export interface TurnCandidate extends EngineerRef {
  lastAssignedAt: Date | null;
}

/** A candidate as the group moves the turn on: `given` counts the turns it took, so a tie at the group's one instant still rotates. */
interface Turn extends TurnCandidate {
  given: number;
}

export interface GroupNewRequestsRead {
  /** Per sender (lower case): counts as senderActivityColumns reads them. */
  activity: ReadonlyMap<string, { newCases: number; acknowledgements: number }>;
  /** Reserved first cases, one per message that may open a case; handed out in order. */
  reserved: readonly { id: number; number: number }[];
  /** Round-robin: the engineers this transaction holds the turn of (locked), least recently assigned first. */
  locked: readonly TurnCandidate[];
  /** Round-robin: the next in turn when every engineer is being assigned by another intake (not moved on). */
  anyone: EngineerRef | null;
  roundRobin: boolean;
  /** Who hears of a case nobody is assigned to. */
  unassignedNotify: readonly string[];
}

export class GroupNewRequests {
  private readonly activity: Map<string, { newCases: number; acknowledgements: number }>;
  private readonly reserved: { id: number; number: number }[];
  private readonly turn: Turn[];
  private turnsGiven = 0;

  constructor(private readonly read: GroupNewRequestsRead) {
    this.activity = new Map([...read.activity].map(([k, v]) => [k, { ...v }]));
    this.reserved = [...read.reserved];
    this.turn = read.locked.map((e) => ({ ...e, given: 0 }));
  }

  /** Whether this sender's new request is covered (its counts were read); else the caller reads its facts itself. */
  covers(senderAddress: string): boolean {
    return this.activity.has(senderAddress.toLowerCase()) && this.reserved.length > 0;
  }

  /** The facts of this sender's next new request but the CC'd contacts; null when not covered. */
  take(senderAddress: string): Omit<NewRequestFacts, 'cc'> | null {
    const activity = this.activity.get(senderAddress.toLowerCase());
    if (!activity || this.reserved.length === 0) return null;
    const firstCase = this.reserved.shift()!;
    const assignee = this.read.roundRobin ? this.nextInTurn() : null;
    return { activity: { ...activity }, assignee, unassignedNotify: assignee ? [] : [...this.read.unassignedNotify], firstCase };
  }

  /**
   * A new request's plan was decided (covered or read from the database): its cases count for its
   * sender, and an engineer it took the turn of was assigned `now`, as its write will record.
   */
  decided(senderAddress: string, plan: Plan, now: Date): void {
    const activity = this.activity.get(senderAddress.toLowerCase());
    const actor = senderAddress.toLowerCase();
    if (activity) {
      for (const e of plan.events) {
        if (e.kind !== 'case_opened' || e.actor.toLowerCase() !== actor) continue;
        activity.newCases += 1;
        if (e.data['acknowledged'] === true) activity.acknowledgements += 1;
      }
    }
    for (const id of plan.assignedEngineers) {
      const e = this.turn.find((t) => t.id === id);
      if (e) Object.assign(e, { lastAssignedAt: now, given: ++this.turnsGiven });
    }
  }

  /** The next in turn (byTurn), who takes it and moves it on. */
  private nextInTurn(): (EngineerRef & { turnTaken: boolean }) | null {
    if (this.turn.length === 0) return this.read.anyone ? { ...this.read.anyone, turnTaken: false } : null;
    const next = [...this.turn].sort(byTurn)[0]!;
    return { id: next.id, address: next.address, name: next.name, active: next.active, turnTaken: true };
  }
}

/**
 * As turnCtes orders them: least recently assigned first (never assigned before anyone), then by
 * id. The group's messages share one instant, so among those this group assigned, the one it
 * assigned first is next: a group of more new cases than engineers goes round, as one message at a
 * time would on a clock that moves.
 */
function byTurn(a: Turn, b: Turn): number {
  const at = a.lastAssignedAt?.getTime() ?? -Infinity;
  const bt = b.lastAssignedAt?.getTime() ?? -Infinity;
  if (at !== bt) return at - bt;
  return a.given !== b.given ? a.given - b.given : a.id - b.id;
}

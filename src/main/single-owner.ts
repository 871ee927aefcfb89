/**
 * One owner per state: the checkpoint directory's lock (dir-lock.ts) and the consumer
 * group membership check, so that a second engine instance — on this machine or another,
 * with the same directory or not — refuses with a clear error instead of splitting the
 * partitions and corrupting the results. (When several instances are supported, this
 * becomes that feature's ownership protocol.)
 */
import type { DirLock } from './dir-lock.js';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { RecordSource } from './source.js';

/** A lock on the consumer group that every instance can see (group-lock.ts). */
export interface OwnerLock {
  acquire(): Promise<void>;
  release(): Promise<void>;
  onLost: (why: string) => void;
}

export class SingleOwner {
  /** This instance has owned partitions (so a member that joins later is the newcomer). */
  ownedBefore = false;

  constructor(
    private readonly lock: DirLock | undefined,
    private readonly source: RecordSource,
    private readonly groupId: string,
    private readonly log: Logger,
    private readonly groupLock?: OwnerLock,
  ) {}

  /** Takes the checkpoint directory's lock; `onLost` is called if it is taken away later. */
  async acquire(onLost: (e: SmartGridError) => void): Promise<void> {
    const lock = this.lock;
    if (lock === undefined) return;
    lock.onLost = (why) => onLost(new SmartGridError('INSTANCE_CONFLICT', `lost the checkpoint directory lock: ${why}; stopping without writing`));
    const owner = await lock.acquire();
    this.log.info('checkpoint directory locked', {
      dir: lock.dir,
      instance: owner.instanceId,
      ...(lock.lastTakeOver === null ? {} : { tookOverStaleLock: lock.lastTakeOver }),
    });
    // Then the group's lock in PostgreSQL: it stops an engine with another directory.
    if (this.groupLock !== undefined) {
      this.groupLock.onLost = (why) => onLost(new SmartGridError('INSTANCE_CONFLICT', `lost the instance lock: ${why}; stopping without writing`));
      await this.groupLock.acquire();
    }
  }

  async release(): Promise<void> {
    await this.groupLock?.release();
    await this.lock?.release();
  }

  /**
   * One instance per consumer group: the engine runs as a single instance, so another
   * member in its group (another engine with the same --group-id, here or on another
   * machine, or any other consumer) would split the partitions and corrupt the results.
   * At start a member that is not a predecessor of this instance (whose session may
   * linger after a kill -9) makes this instance refuse. After a join, when two engines
   * started at once, the one that started later refuses; the earlier one keeps the
   * watermarks of partitions it lost (they still hold event time back, so nothing turns
   * late) and gets them back once the newcomer has left. A newcomer that is not an engine
   * (any other consumer with this group id) cannot be made to leave; it holds its
   * partitions until it does.
   */
  async check(at: 'start' | 'join'): Promise<void> {
    const { source, lock } = this;
    if (lock === undefined) return;
    const owner = lock.owner;
    const mine = instanceOfClient(source.clientId);
    const ignore = new Set([mine, ...(owner?.predecessors ?? [])]);
    let members;
    try {
      members = await source.groupMembers();
    } catch (e) {
      this.log.warn('could not list the consumer group members; skipping the single-instance check', { error: describeError(e) });
      return;
    }
    const others = members.filter((m) => !ignore.has(instanceOfClient(m.clientId)));
    if (others.length === 0) return;
    const who = others.map((m) => `${m.clientId} on ${m.clientHost}`).join(', ');
    // Who was there first keeps the group. An instance that already owned partitions
    // before this join was: the others are newcomers. On a first assignment, engine
    // members compare their instance ids, which sort by start time; another consumer
    // that is already there wins.
    const newcomers =
      at === 'join' &&
      (this.ownedBefore || others.every((m) => m.clientId.includes('@') && instanceOfClient(m.clientId) > mine));
    if (newcomers) {
      this.log.warn('another member joined the consumer group; this instance keeps its state and waits for its partitions to come back', {
        members: who,
      });
      return;
    }
    throw new SmartGridError(
      'INSTANCE_CONFLICT',
      `consumer group '${this.groupId}' already has ${others.length === 1 ? 'an active member' : `${others.length} active members`} ` +
        `(${who}): another engine instance (or another consumer) uses this group id. The engine runs as a single ` +
        `instance per group, and two would split the partitions and overwrite each other's rows. Stop the other ` +
        `one, or use another --group-id. (A member of a killed instance leaves the group after --session-timeout.)`,
    );
  }
}

/** The instance id in an engine's Kafka client id (`smartgrid-stream@<instance id>`), or the whole id. */
export function instanceOfClient(clientId: string): string {
  const at = clientId.lastIndexOf('@');
  return at < 0 ? clientId : clientId.slice(at + 1);
}

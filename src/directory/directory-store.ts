// Applying a directory file to the database (idempotent upserts, all or nothing), exporting it
// back, and the lookups the intake needs: who a sender is and whether they are entitled.
import { sql } from 'kysely';
import type { Db, DbOrTrx } from '../db/database.js';
import type { DirectoryFile, RowProblem } from './directory-file.js';

export interface ImportCounts {
  organisations: number;
  contracts: number;
  contacts: number;
  engineers: number;
}

export type ImportOutcome = { ok: true; counts: ImportCounts } | { ok: false; problems: RowProblem[] };

/** Rows that refer to something neither the file nor the database has. Line numbers come from `lines`. */
export class DirectoryConflict extends Error {
  readonly code = 'directory_conflict';
  constructor(readonly problems: RowProblem[]) {
    super(problems.map((p) => `line ${p.line}: ${p.reason}`).join('\n'));
  }
}

/**
 * Upserts every row of the file in one transaction. Organisations by key, contracts by
 * (organisation, product, start), contacts and engineers by address. On any problem nothing changes.
 * `lines` maps "section[i]" to the row's line for messages about database conflicts.
 */
export async function importDirectory(db: Db, file: DirectoryFile, lines: Map<string, number> = new Map()): Promise<ImportOutcome> {
  try {
    const counts = await db.transaction().execute(async (trx) => {
      const orgIds = new Map<string, number>();
      for (const o of file.organisations) {
        const row = await trx.insertInto('organisations').values({ key: o.key, name: o.name, time_zone: o.timeZone })
          .onConflict((oc) => oc.column('key').doUpdateSet({ name: o.name, time_zone: o.timeZone }))
          .returning('id').executeTakeFirstOrThrow();
        orgIds.set(o.key, row.id);
      }
      const problems: RowProblem[] = [];
      const orgId = async (key: string, label: string): Promise<number | null> => {
        if (!orgIds.has(key)) {
          const found = await trx.selectFrom('organisations').select('id').where('key', '=', key).executeTakeFirst();
          if (found) orgIds.set(key, found.id);
        }
        const id = orgIds.get(key);
        if (id === undefined) problems.push({ line: lines.get(label) ?? 0, row: label, reason: `unknown organisation "${key}"` });
        return id ?? null;
      };
      const engineerAddresses = new Set(file.engineers.map((e) => e.address));
      for (const [i, c] of file.contracts.entries()) {
        const id = await orgId(c.organisation, `contracts[${i}]`);
        if (id === null) continue;
        await trx.insertInto('contracts').values({ organisation_id: id, product: c.product, starts_on: c.startsOn, ends_on: c.endsOn })
          .onConflict((oc) => oc.columns(['organisation_id', 'product', 'starts_on']).doUpdateSet({ ends_on: c.endsOn }))
          .execute();
      }
      for (const [i, c] of file.contacts.entries()) {
        const id = await orgId(c.organisation, `contacts[${i}]`);
        if (id === null) continue;
        const label = `contacts[${i}]`;
        const asEngineer = engineerAddresses.has(c.address)
          || (await trx.selectFrom('engineers').select('id').where('address', '=', c.address).executeTakeFirst()) !== undefined;
        if (asEngineer) {
          problems.push({ line: lines.get(label) ?? 0, row: label, reason: `${c.address} is an engineer; one address cannot be both` });
          continue;
        }
        await trx.insertInto('contacts').values({ organisation_id: id, address: c.address, name: c.name, role: c.role, active: c.active })
          .onConflict((oc) => oc.column('address').doUpdateSet({ organisation_id: id, name: c.name, role: c.role, active: c.active }))
          .execute();
      }
      for (const [i, e] of file.engineers.entries()) {
        const label = `engineers[${i}]`;
        const asContact = await trx.selectFrom('contacts').select('id').where('address', '=', e.address).executeTakeFirst();
        if (asContact) {
          problems.push({ line: lines.get(label) ?? 0, row: label, reason: `${e.address} is a customer contact; one address cannot be both` });
          continue;
        }
        await trx.insertInto('engineers').values({ address: e.address, name: e.name, team: e.team, role: e.role, active: e.active })
          .onConflict((oc) => oc.column('address').doUpdateSet({ name: e.name, team: e.team, role: e.role, active: e.active }))
          .execute();
      }
      if (problems.length) throw new DirectoryConflict(problems);
      return {
        organisations: file.organisations.length,
        contracts: file.contracts.length,
        contacts: file.contacts.length,
        engineers: file.engineers.length,
      };
    });
    return { ok: true, counts };
  } catch (err) {
    if (err instanceof DirectoryConflict) return { ok: false, problems: err.problems.sort((a, b) => a.line - b.line) };
    throw err;
  }
}

export async function exportDirectory(db: DbOrTrx): Promise<DirectoryFile> {
  const orgs = await db.selectFrom('organisations').select(['id', 'key', 'name', 'time_zone']).orderBy('key').execute();
  const keyOf = new Map(orgs.map((o) => [o.id, o.key]));
  const contracts = await db.selectFrom('contracts').selectAll().orderBy('organisation_id').orderBy('product').orderBy('starts_on').execute();
  const contacts = await db.selectFrom('contacts').selectAll().orderBy('address').execute();
  const engineers = await db.selectFrom('engineers').selectAll().orderBy('address').execute();
  return {
    organisations: orgs.map((o) => ({ key: o.key, name: o.name, timeZone: o.time_zone })),
    contracts: contracts.map((c) => ({
      organisation: keyOf.get(c.organisation_id) ?? '', product: c.product, startsOn: dateOnly(c.starts_on), endsOn: dateOnly(c.ends_on),
    })),
    contacts: contacts.map((c) => ({ organisation: keyOf.get(c.organisation_id) ?? '', address: c.address, name: c.name, role: c.role, active: c.active })),
    engineers: engineers.map((e) => ({ address: e.address, name: e.name, team: e.team, role: e.role, active: e.active })),
  };
}

/** Both drivers are set to return `date` columns as 'YYYY-MM-DD' (see db/database.ts). */
function dateOnly(v: unknown): string {
  return v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10);
}

export async function directoryIsEmpty(db: DbOrTrx): Promise<boolean> {
  const row = await db.selectFrom('organisations').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  const eng = await db.selectFrom('engineers').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  return row.n === 0 && eng.n === 0;
}

// ---------------------------------------------------------------- who is the sender

export type Sender =
  | { kind: 'engineer'; id: number; address: string; name: string; team: string; supervisor: boolean; active: boolean }
  | {
      kind: 'contact';
      id: number;
      address: string;
      name: string;
      organisationId: number;
      organisationName: string;
      organisationTimeZone: string;
      admin: boolean;
      active: boolean;
      /** Active and the organisation has a contract covering today in its own time zone. */
      entitled: boolean;
      /** Our mail to this address bounced permanently. */
      bouncing: boolean;
    }
  | { kind: 'unknown'; address: string };

/** Who sent a message: engineer, contact (with entitlement as of `now`) or unknown — in one query. */
export async function findSender(db: DbOrTrx, address: string, now: Date): Promise<Sender> {
  const a = address.toLowerCase();
  const result = await sql<SenderRow>`${senderRowsQuery([a], now)}`.execute(db);
  return senderFrom(a, result.rows);
}

/** One row per engineer or contact among `addresses` (lower-cased), as findSender reads them. */
export interface SenderRow {
  address: string; kind: 'engineer' | 'contact'; id: number; name: string; team: string | null; role: string; active: boolean;
  organisation_id: number | null; org_name: string | null; time_zone: string | null; covered: boolean; bouncing: boolean;
}

/** The query behind findSender, for several addresses at once (an intake group reads its senders together). */
export function senderRowsQuery(addresses: readonly string[], now: Date) {
  return sql`
    select e.address, 'engineer' as kind, e.id, e.name, e.team, e.role, e.active,
           null::bigint as organisation_id, null::text as org_name, null::text as time_zone, false as covered, false as bouncing
      from engineers e where e.address = any(${addresses}::text[])
    union all
    select c.address, 'contact', c.id, c.name, null, c.role, c.active, c.organisation_id, o.name, o.time_zone,
           exists (select 1 from contracts k where k.organisation_id = c.organisation_id
                   and (${now}::timestamptz at time zone o.time_zone)::date between k.starts_on and k.ends_on),
           c.bouncing_since is not null
      from contacts c join organisations o on o.id = c.organisation_id where c.address = any(${addresses}::text[])`;
}

/** The sender `address` (lower-cased) is, from the rows senderRowsQuery read. */
export function senderFrom(address: string, rows: readonly SenderRow[]): Sender {
  const mine = rows.filter((r) => r.address === address);
  // An address is either an engineer or a contact (the import refuses both); engineer first if ever both.
  const row = mine.find((r) => r.kind === 'engineer') ?? mine[0];
  if (!row) return { kind: 'unknown', address };
  if (row.kind === 'engineer') {
    return { kind: 'engineer', id: Number(row.id), address, name: row.name, team: row.team ?? 'support', supervisor: row.role === 'supervisor', active: row.active };
  }
  return {
    kind: 'contact',
    id: Number(row.id),
    address,
    name: row.name,
    organisationId: Number(row.organisation_id!),
    organisationName: row.org_name!,
    organisationTimeZone: row.time_zone!,
    admin: row.role === 'org_admin',
    active: row.active,
    entitled: row.active && row.covered,
    bouncing: row.bouncing,
  };
}

/** Entitled contacts of one organisation among the given addresses (CC'd colleagues become participants). */
export async function entitledContactsOf(db: DbOrTrx, organisationId: number, addresses: string[]): Promise<{ id: number; address: string; bouncing: boolean }[]> {
  if (addresses.length === 0) return [];
  return db.selectFrom('contacts').select(['id', 'address', sql<boolean>`bouncing_since is not null`.as('bouncing')])
    .where('organisation_id', '=', organisationId)
    .where('active', '=', true)
    .where('address', 'in', addresses.map((x) => x.toLowerCase()))
    .execute();
}

/**
 * Active contacts (role contact) an org admin adds by mail. An address that is a contact by the
 * time this runs (another intake added it) is left as it is; the caller has already refused
 * engineers' addresses and other organisations' contacts. Returns the addresses inserted.
 */
export async function addContacts(db: DbOrTrx, rows: readonly { organisationId: number; address: string; name: string }[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = await db.insertInto('contacts')
    .values(rows.map((r) => ({ organisation_id: r.organisationId, address: r.address.toLowerCase(), name: r.name, role: 'contact' as const, active: true })))
    .onConflict((oc) => oc.column('address').doNothing()).returning('address').execute();
  return inserted.map((r) => r.address);
}

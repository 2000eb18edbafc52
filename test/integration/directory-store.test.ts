// Applying a directory file to the database (issue 2), on the embedded server or DATABASE_URL: idempotent
// upserts, updates on re-import, all or nothing when rows conflict with the database, export then
// import round-trips; and findSender's entitlement: active contact, contract covering today in the
// organisation's own time zone.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { parseDirectory, type DirectoryFile } from '../../src/directory/directory-file.js';
import {
  directoryIsEmpty, entitledContactsOf, exportDirectory, findSender, importDirectory,
} from '../../src/directory/directory-store.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  await db.db.deleteFrom('contracts').execute();
  await db.db.deleteFrom('contacts').execute();
  await db.db.deleteFrom('engineers').execute();
  await db.db.deleteFrom('organisations').execute();
});

function base(): DirectoryFile {
  return {
    organisations: [
      { key: 'acme', name: 'Acme Industries', timeZone: 'Europe/Berlin' },
      { key: 'globex', name: 'Globex', timeZone: 'America/New_York' },
    ],
    contracts: [
      { organisation: 'acme', product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31' },
      { organisation: 'globex', product: 'Server', startsOn: '2024-01-01', endsOn: '2025-12-31' },
    ],
    contacts: [
      { organisation: 'acme', address: 'bob@acme.example', name: 'Bob Builder', role: 'contact', active: true },
      { organisation: 'globex', address: 'hank@globex.example', name: 'Hank', role: 'org_admin', active: true },
    ],
    engineers: [
      { address: 'erin@vendor.example', name: 'Erin Engineer', team: 'core', role: 'engineer', active: true },
      { address: 'sam@vendor.example', name: 'Sam Supervisor', team: 'core', role: 'supervisor', active: true },
    ],
  };
}

/** Every directory row with its id, to see that nothing was inserted, deleted or changed. */
async function snapshot(): Promise<unknown> {
  const rows = async (table: 'organisations' | 'contracts' | 'contacts' | 'engineers') =>
    (await db.db.selectFrom(table).selectAll().orderBy('id').execute()).map((r) => ({ ...r }));
  return {
    organisations: await rows('organisations'),
    contracts: await rows('contracts'),
    contacts: await rows('contacts'),
    engineers: await rows('engineers'),
  };
}

async function importOk(file: DirectoryFile, lines?: Map<string, number>): Promise<void> {
  const outcome = await importDirectory(db.db, file, lines);
  if (!outcome.ok) throw new Error(`import failed: ${JSON.stringify(outcome.problems)}`);
}

function parsed(text: string, format: 'json' | 'csv' = 'csv') {
  const result = parseDirectory(text, format);
  if (!result.ok) throw new Error(`parse failed: ${JSON.stringify(result.problems)}`);
  return result;
}

const HEADER = 'type,organisation,name,address,role,active,team,product,starts_on,ends_on,time_zone';

describe(`directory import on ${databaseKind()}`, () => {
  it('imports into an empty database and exports the same directory', async () => {
    expect(await directoryIsEmpty(db.db)).toBe(true);
    const outcome = await importDirectory(db.db, base());
    expect(outcome).toEqual({ ok: true, counts: { organisations: 2, contracts: 2, contacts: 2, engineers: 2 } });
    expect(await directoryIsEmpty(db.db)).toBe(false);
    expect(await exportDirectory(db.db)).toEqual(base());
  });

  it('is idempotent: importing the same file twice leaves the same rows with the same ids', async () => {
    await importOk(base());
    const first = await snapshot();
    await importOk(base());
    expect(await snapshot()).toEqual(first);
  });

  it('updates rows on re-import: names, time zones, contract ends, roles, active flags, a contact changing organisation', async () => {
    await importOk(base());
    const before = await snapshot() as { contacts: { id: number; address: string }[] };
    const changed = base();
    changed.organisations[0] = { key: 'acme', name: 'Acme Industries SE', timeZone: 'Europe/Paris' };
    changed.contracts[0] = { organisation: 'acme', product: 'Server', startsOn: '2026-01-01', endsOn: '2028-06-30' };
    changed.contacts[0] = { organisation: 'globex', address: 'bob@acme.example', name: 'Robert Builder', role: 'org_admin', active: false };
    changed.engineers[0] = { address: 'erin@vendor.example', name: 'Erin E.', team: 'edge', role: 'supervisor', active: false };
    await importOk(changed);
    const after = await exportDirectory(db.db);
    expect(after.organisations[0]).toEqual(changed.organisations[0]);
    expect(after.contracts).toContainEqual(changed.contracts[0]);
    expect(after.contracts).toHaveLength(2);
    expect(after.contacts).toContainEqual(changed.contacts[0]);
    expect(after.engineers).toContainEqual(changed.engineers[0]);
    // the same rows were updated, not new ones added
    const bob = (await snapshot() as { contacts: { id: number; address: string }[] }).contacts.find((c) => c.address === 'bob@acme.example');
    expect(bob?.id).toBe(before.contacts.find((c) => c.address === 'bob@acme.example')?.id);
  });

  it('adds to the directory without removing what a later file leaves out', async () => {
    await importOk(base());
    await importOk({
      organisations: [],
      contracts: [{ organisation: 'globex', product: 'Server', startsOn: '2026-01-01', endsOn: '2026-12-31' }],
      contacts: [{ organisation: 'acme', address: 'carol@acme.example', name: 'Carol', role: 'contact', active: true }],
      engineers: [],
    });
    const after = await exportDirectory(db.db);
    expect(after.organisations).toEqual(base().organisations);
    expect(after.contracts).toHaveLength(3);
    expect(after.contacts.map((c) => c.address)).toEqual(['bob@acme.example', 'carol@acme.example', 'hank@globex.example']);
  });

  it('export then import into an empty database round-trips', async () => {
    await importOk(base());
    await importOk({ organisations: [{ key: 'zeta', name: 'Zeta', timeZone: 'Pacific/Auckland' }], contracts: [], contacts: [], engineers: [] });
    const exported = await exportDirectory(db.db);
    const ids = await snapshot();
    await db.db.deleteFrom('contracts').execute();
    await db.db.deleteFrom('contacts').execute();
    await db.db.deleteFrom('engineers').execute();
    await db.db.deleteFrom('organisations').execute();
    await importOk(exported);
    expect(await exportDirectory(db.db)).toEqual(exported);
    expect(await snapshot()).not.toEqual(ids); // really re-inserted, not left in place
  });
});

describe(`directory import: all or nothing on ${databaseKind()}`, () => {
  it('a contact address that is an engineer in the database changes nothing, and names the row and line', async () => {
    await importOk(base());
    const before = await snapshot();
    const { file, lines } = parsed([
      HEADER,
      'organisation,acme,Acme renamed,,,,,,,,UTC',
      'organisation,initech,Initech,,,,,,,,UTC',
      'contract,acme,,,,,,Server,2026-01-01,2030-12-31,',
      'contact,acme,Bob renamed,bob@acme.example,contact,false,,,,,',
      'contact,initech,Erin,ERIN@vendor.example,contact,true,,,,,',
      'engineer,,New Engineer,new@vendor.example,engineer,true,core,,,,',
    ].join('\n'));
    const outcome = await importDirectory(db.db, file, lines);
    expect(outcome).toEqual({
      ok: false,
      problems: [{ line: 6, row: 'contacts[1]', reason: 'erin@vendor.example is an engineer; one address cannot be both' }],
    });
    expect(await snapshot()).toEqual(before);
  });

  it('an engineer address that is a contact in the database changes nothing', async () => {
    await importOk(base());
    const before = await snapshot();
    const { file, lines } = parsed([HEADER, 'organisation,acme,Acme renamed,,,,,,,,UTC', 'engineer,,Hank,hank@globex.example,engineer,true,core,,,,'].join('\n'));
    const outcome = await importDirectory(db.db, file, lines);
    expect(outcome).toEqual({
      ok: false,
      problems: [{ line: 3, row: 'engineers[0]', reason: 'hank@globex.example is a customer contact; one address cannot be both' }],
    });
    expect(await snapshot()).toEqual(before);
  });

  it('a reference to an organisation neither the file nor the database has changes nothing; every such row is named', async () => {
    await importOk(base());
    const before = await snapshot();
    const { file, lines } = parsed(JSON.stringify({
      organisations: [{ key: 'acme', name: 'Acme renamed' }],
      contracts: [{ organisation: 'initech', product: 'Server', startsOn: '2026-01-01', endsOn: '2026-12-31' }],
      contacts: [
        { organisation: 'globex', address: 'new@globex.example' },
        { organisation: 'initech', address: 'peter@initech.example' },
      ],
    }, null, 2), 'json');
    const outcome = await importDirectory(db.db, file, lines);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.problems).toEqual([
      { line: lines.get('contracts[0]'), row: 'contracts[0]', reason: 'unknown organisation "initech"' },
      { line: lines.get('contacts[1]'), row: 'contacts[1]', reason: 'unknown organisation "initech"' },
    ]);
    expect(outcome.problems.map((p) => p.line)).toEqual([9, 21]);
    expect(await snapshot()).toEqual(before);
  });

  it('a reference to an organisation already in the database is fine', async () => {
    await importOk(base());
    const { file, lines } = parsed([HEADER, 'contact,globex,Nina,nina@globex.example,contact,true,,,,,'].join('\n'));
    await importOk(file, lines);
    expect((await findSender(db.db, 'nina@globex.example', new Date('2025-06-01T12:00:00Z')))).toMatchObject({
      kind: 'contact', organisationName: 'Globex', entitled: true,
    });
  });
});

describe(`findSender on ${databaseKind()}`, () => {
  beforeEach(async () => {
    await importOk({
      organisations: [
        { key: 'kiwi', name: 'Kiwi Ltd', timeZone: 'Pacific/Auckland' },
        { key: 'utc', name: 'UTC Corp', timeZone: 'UTC' },
        { key: 'la', name: 'LA Inc', timeZone: 'America/Los_Angeles' },
        { key: 'late', name: 'Late Starter', timeZone: 'Pacific/Auckland' },
      ],
      contracts: [
        { organisation: 'kiwi', product: 'Server', startsOn: '2026-01-01', endsOn: '2026-11-30' },
        { organisation: 'utc', product: 'Server', startsOn: '2026-01-01', endsOn: '2026-11-30' },
        { organisation: 'la', product: 'Server', startsOn: '2026-01-01', endsOn: '2026-11-30' },
        { organisation: 'late', product: 'Server', startsOn: '2026-12-01', endsOn: '2027-11-30' },
      ],
      contacts: [
        { organisation: 'kiwi', address: 'kate@kiwi.example', name: 'Kate', role: 'org_admin', active: true },
        { organisation: 'kiwi', address: 'gone@kiwi.example', name: 'Gone', role: 'contact', active: false },
        { organisation: 'utc', address: 'uma@utc.example', name: 'Uma', role: 'contact', active: true },
        { organisation: 'la', address: 'lou@la.example', name: 'Lou', role: 'contact', active: true },
        { organisation: 'late', address: 'lee@late.example', name: 'Lee', role: 'contact', active: true },
      ],
      engineers: [
        { address: 'erin@vendor.example', name: 'Erin', team: 'core', role: 'engineer', active: true },
        { address: 'sam@vendor.example', name: 'Sam', team: 'core', role: 'supervisor', active: false },
      ],
    });
  });

  const entitled = async (address: string, now: string) => {
    const s = await findSender(db.db, address, new Date(now));
    if (s.kind !== 'contact') throw new Error(`${address} is ${s.kind}`);
    return s.entitled;
  };

  it('uses the organisation\'s local date: 2026-11-30T12:00Z is already 1 December in Auckland, so that contract has ended', async () => {
    expect(await entitled('kate@kiwi.example', '2026-11-30T12:00:00Z')).toBe(false);
    // ...while for an organisation on UTC it is still 30 November, the last day of its contract
    expect(await entitled('uma@utc.example', '2026-11-30T12:00:00Z')).toBe(true);
    // an hour before local midnight in Auckland (UTC+13) it is still covered
    expect(await entitled('kate@kiwi.example', '2026-11-30T10:00:00Z')).toBe(true);
  });

  it('a contract starting 1 December covers an Auckland contact at 2026-11-30T12:00Z but not at 10:59Z', async () => {
    expect(await entitled('lee@late.example', '2026-11-30T12:00:00Z')).toBe(true);
    expect(await entitled('lee@late.example', '2026-11-30T10:59:59Z')).toBe(false);
  });

  it('west of UTC: 2026-12-01T05:00Z is still 30 November in Los Angeles, so still covered', async () => {
    expect(await entitled('lou@la.example', '2026-12-01T05:00:00Z')).toBe(true);
    expect(await entitled('uma@utc.example', '2026-12-01T05:00:00Z')).toBe(false);
    expect(await entitled('lou@la.example', '2026-12-01T08:00:00Z')).toBe(false);
  });

  it('before the contract starts nobody is entitled', async () => {
    expect(await entitled('uma@utc.example', '2025-12-31T23:59:59Z')).toBe(false);
    expect(await entitled('uma@utc.example', '2026-01-01T00:00:00Z')).toBe(true);
  });

  it('an inactive contact of a covered organisation is known but not entitled', async () => {
    const s = await findSender(db.db, 'gone@kiwi.example', new Date('2026-06-01T00:00:00Z'));
    expect(s).toMatchObject({ kind: 'contact', active: false, entitled: false, organisationName: 'Kiwi Ltd' });
    expect(await entitled('kate@kiwi.example', '2026-06-01T00:00:00Z')).toBe(true);
  });

  it('describes a contact with organisation, time zone and admin role; matches the address case-insensitively', async () => {
    const s = await findSender(db.db, 'Kate@KIWI.example', new Date('2026-06-01T00:00:00Z'));
    expect(s).toMatchObject({
      kind: 'contact', address: 'kate@kiwi.example', name: 'Kate', organisationName: 'Kiwi Ltd',
      organisationTimeZone: 'Pacific/Auckland', admin: true, active: true, entitled: true,
    });
  });

  it('tells engineers (with the supervisor role) and unknown senders apart', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    expect(await findSender(db.db, 'erin@vendor.example', now)).toMatchObject({ kind: 'engineer', supervisor: false, active: true, team: 'core' });
    expect(await findSender(db.db, 'sam@vendor.example', now)).toMatchObject({ kind: 'engineer', supervisor: true, active: false });
    expect(await findSender(db.db, 'stranger@else.example', now)).toEqual({ kind: 'unknown', address: 'stranger@else.example' });
  });

  it('entitledContactsOf keeps only active contacts of that organisation', async () => {
    const kiwi = await db.db.selectFrom('organisations').select('id').where('key', '=', 'kiwi').executeTakeFirstOrThrow();
    const found = await entitledContactsOf(db.db, kiwi.id, ['KATE@kiwi.example', 'gone@kiwi.example', 'uma@utc.example', 'nobody@kiwi.example']);
    expect(found.map((c) => c.address)).toEqual(['kate@kiwi.example']);
    expect(await entitledContactsOf(db.db, kiwi.id, [])).toEqual([]);
  });

  it('the database agrees on the time zone arithmetic (sanity check of the server time zone independence)', async () => {
    // findSender must not depend on the session time zone of the database connection.
    await sql`set time zone 'America/Los_Angeles'`.execute(db.db);
    try {
      expect(await entitled('kate@kiwi.example', '2026-11-30T12:00:00Z')).toBe(false);
      expect(await entitled('uma@utc.example', '2026-11-30T12:00:00Z')).toBe(true);
    } finally {
      await sql`set time zone 'UTC'`.execute(db.db);
    }
  });
});

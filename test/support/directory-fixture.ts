// A small directory for integration tests: one entitled organisation, one whose contract ended,
// engineers. Loaded through the real import path.
import type { Db } from '../../src/db/database.js';
import { importDirectory } from '../../src/directory/directory-store.js';

export async function loadTestDirectory(db: Db): Promise<void> {
  const outcome = await importDirectory(db, {
    organisations: [
      { key: 'acme', name: 'Acme Industries', timeZone: 'Europe/Berlin' },
      { key: 'globex', name: 'Globex', timeZone: 'UTC' },
    ],
    contracts: [
      { organisation: 'acme', product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31' },
      { organisation: 'globex', product: 'Server', startsOn: '2024-01-01', endsOn: '2025-12-31' },
    ],
    contacts: [
      { organisation: 'acme', address: 'bob@acme.example', name: 'Bob Builder', role: 'contact', active: true },
      { organisation: 'acme', address: 'carol@acme.example', name: 'Carol', role: 'contact', active: true },
      { organisation: 'acme', address: 'ada@acme.example', name: 'Ada Admin', role: 'org_admin', active: true },
      { organisation: 'globex', address: 'hank@globex.example', name: 'Hank', role: 'contact', active: true },
    ],
    engineers: [
      { address: 'erin@vendor.example', name: 'Erin Engineer', team: 'core', role: 'engineer', active: true },
      { address: 'sam@vendor.example', name: 'Sam Supervisor', team: 'core', role: 'supervisor', active: true },
    ],
  });
  if (!outcome.ok) throw new Error(`test directory: ${JSON.stringify(outcome.problems)}`);
}

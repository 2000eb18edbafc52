// The clearly labelled demo directory local mode loads into an empty database, so a first
// `npm start` can take a test message: one organisation with a current contract, one contact,
// one engineer. Never loaded when the directory already has anyone in it.
import type { DirectoryFile } from './directory-file.js';

export function demoDirectory(today: string): DirectoryFile {
  const year = Number(today.slice(0, 4));
  return {
    organisations: [{ key: 'demo', name: 'DEMO Organisation (local mode)', timeZone: 'UTC' }],
    contracts: [{ organisation: 'demo', product: 'DEMO product', startsOn: `${year - 1}-01-01`, endsOn: `${year + 1}-12-31` }],
    contacts: [{ organisation: 'demo', address: 'customer@demo.example', name: 'Demo Customer', role: 'contact', active: true }],
    engineers: [{ address: 'engineer@demo.example', name: 'Demo Engineer', team: 'support', role: 'engineer', active: true }],
  };
}

// Issue 8's quote and signature classes (src/threading/reply-text.ts and its recognisers) against
// hand-written fixtures in test/fixtures/mail/quotes/: attribution shapes, separators, localised
// mobile sign-offs, the Gmail signature container, never-empty fallbacks and invisible lines.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractReply } from '../../src/threading/reply-text.js';

const dir = new URL('../fixtures/mail/quotes/', import.meta.url);
function load(name: string): { text: string; html: string | null } {
  const body = readFileSync(new URL(name, dir), 'utf8');
  return name.endsWith('.html') ? { text: '', html: body } : { text: body, html: null };
}

interface Case { file: string; visible: string; signature?: string | null; removedHas?: string }

const attributions: Case[] = [
  { file: 'on-wrote-no-colon-unquoted.txt', visible: 'The import works again after clearing the cache.', removedHas: 'please clear the cache' },
  { file: 'webmail-dashes-zoho.txt', visible: 'Thanks, the invoice arrived this morning.', removedHas: 'corrected invoice' },
  { file: 'webmail-dashes-notes.txt', visible: 'The printer queue is empty now.', removedHas: 'Please empty the printer queue.' },
  { file: 'numeric-date-no-wrote.txt', visible: 'Yes, the backup finished without errors.', removedHas: "last night's backup" },
  { file: 'numeric-date-quoted.txt', visible: 'Yes, it finished.', removedHas: '> Did the backup finish?' },
  { file: 'attribution-split-mailto.txt', visible: 'The new token works, thank you.', removedHas: '> Please try the new token.' },
  { file: 'attribution-split-blank-lines.txt', visible: 'The dashboard loads again.', removedHas: '> Does the dashboard load now?' },
  { file: 'attribution-de-two-lines.txt', visible: 'Danke, der Export läuft wieder.', removedHas: '> Bitte starten' },
  { file: 'attribution-de-two-lines-unquoted.txt', visible: 'Danke, der Export läuft wieder.', removedHas: 'Bitte starten' },
  { file: 'attribution-ru.txt', visible: 'Спасибо, всё работает.', removedHas: '> Попробуйте' },
  { file: 'attribution-ru-mailru.txt', visible: 'Спасибо, проблема решена.', removedHas: 'Перезапустите' },
  { file: 'attribution-uk.txt', visible: 'Дякую, тепер усе працює.', removedHas: '> Спробуйте' },
  { file: 'attribution-de-verb-first-wrapped.txt', visible: 'Danke, der Import läuft wieder.', removedHas: 'Bitte löschen Sie den Cache' },
  { file: 'outlook-block-uk.txt', visible: 'Дякую, тепер усе працює.', removedHas: 'Спробуйте ще раз.' },
  { file: 'attribution-ru-wrapped.txt', visible: 'Спасибо, всё работает.', removedHas: '> Попробуйте' },
  { file: 'quote-prefix-initials.txt', visible: 'Fixed on our side as well.', removedHas: 'AB> Did the update fix the sync?' },
];

const separators: Case[] = [
  { file: 'original-message-da.txt', visible: 'Tak, det virker nu.', removedHas: 'Prøv igen.' },
  { file: 'original-message-da-besked.txt', visible: 'Tak, det virker nu.', removedHas: 'Prøv igen.' },
  { file: 'original-message-star.txt', visible: 'The report is attached.', removedHas: 'Please send the report.' },
  { file: 'original-message-underscore-upper.txt', visible: 'The report is attached.', removedHas: 'Please send the report.' },
  { file: 'original-message-bare-upper.txt', visible: 'The report is attached.', removedHas: 'Please send the report.' },
];

const mobile: Case[] = [
  { file: 'mobile-fr-iphone-nfd.txt', visible: 'Le serveur redémarre correctement.', signature: 'Envoye\u0301 de mon iPhone' },
  { file: 'mobile-fr-outlook-ios.txt', visible: 'Le serveur redémarre correctement.', signature: 'Obtenir Outlook pour iOS' },
  { file: 'mobile-de-outlook.txt', visible: 'Der Server startet wieder.', signature: 'Outlook für Android herunterladen' },
  { file: 'mobile-de-samsung.txt', visible: 'Der Server startet wieder.', signature: 'Von meinem Samsung Galaxy Smartphone gesendet.' },
  { file: 'mobile-es-outlook.txt', visible: 'El servidor arranca otra vez.', signature: 'Obtener Outlook para iOS' },
  { file: 'mobile-it.txt', visible: 'Il server riparte.', signature: 'Inviato dal mio iPhone' },
  { file: 'mobile-nl-outlook.txt', visible: 'De server start weer.', signature: 'Outlook voor iOS downloaden' },
];

const neverEmpty: Case[] = [
  { file: 'bottom-post-outlook-block-top.txt', visible: 'Yes, the export works now.', removedHas: 'Does the export work now?' },
  { file: 'bottom-post-header-top.txt', visible: 'Yes, it works since this morning.', removedHas: 'Does the export work now?' },
  { file: 'only-quote.txt', visible: 'On Tue, 3 Mar 2026 at 10:12, Support Desk <support@example.com> wrote:\n> The licence server is back online.' },
  { file: 'list-item-dash.txt', visible: 'We need two changes:\n\n- Faster export\n- A', signature: null },
  { file: 'list-item-dash-alone.txt', visible: 'Which option should we pick? We prefer\n\n- A', signature: null },
];

function check({ file, visible, signature, removedHas }: Case): void {
  const r = extractReply(load(file));
  expect(r.visibleText).toBe(visible);
  if (signature !== undefined) expect(r.signature).toBe(signature);
  if (removedHas !== undefined) expect(r.removedText).toContain(removedHas);
}

describe('reply headers of more shapes and languages start the quote', () => {
  it.each(attributions)('$file', check);
});

describe('"Original message" separators in more languages, decorated, any case', () => {
  it.each(separators)('$file', check);
});

describe('localised mobile sign-offs are signatures', () => {
  it.each(mobile)('$file', check);
  it('keeps a sentence that only mentions Outlook for iOS', () => {
    const text = 'The problem started.\n\nOutlook for iOS crashes when I open the attachment, every time.';
    expect(extractReply({ text, html: null }).visibleText).toBe(text);
  });
});

describe('never empty when the sender wrote something', () => {
  it.each(neverEmpty)('$file', check);
});

describe('Gmail signature container without quoted history', () => {
  it('is removed from the HTML alone', () => {
    const r = extractReply(load('html-gmail-signature-no-quote.html'));
    expect(r.visibleText).toBe('The certificate was renewed this morning.');
    expect(r.signature).toBe('Noor Ali\nOperations');
  });
  it('is removed when a text part without "-- " comes along', () => {
    const html = load('html-gmail-signature-no-quote.html').html;
    const r = extractReply({ text: 'The certificate was renewed this morning.\n\nNoor Ali\nOperations\n', html });
    expect(r.visibleText).toBe('The certificate was renewed this morning.');
  });
});

describe('invisible and tracker characters', () => {
  it('drops a line holding only an invisible or tracker character', () => {
    const r = extractReply(load('invisible-lines.txt'));
    expect(r.visibleText).toBe('The queue drains again.\n\nThanks for the quick help.');
  });
});

// The two-instance scenario shared by the scale-out test and the chaos part: two `casemail start`
// child processes on one database, one Dovecot mailbox and one SMTP sink; IMAP mail APPENDed in
// waves and SMTP mail sent to both instances (a client that, like an MTA, tries the other instance
// when one refuses or vanishes); the mailbox lease holder is SIGKILLed `kills` times and replaced
// by a fresh instance each time. Returns the counts the promises are about.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DovecotServer } from './dovecot.js';
import type { SmtpSink } from './smtp-sink.js';
import type { TestDatabase } from './test-database.js';
import { buildRequest } from './mail-builder.js';
import {
  acknowledgements, appendAll, distinctAnswered, headerOf, imapUrl, sendToIntake, serviceSettings, smtpUrl, spawnService, type ChildService,
} from './service-harness.js';

export interface TwoInstanceRun {
  /** IMAP messages APPENDed before the first kill, and again after each failover. */
  imapWave: number;
  /** SMTP messages sent over the whole run, spread over both instances. */
  smtpCount: number;
  kills: number;
  /** imap.leaseRetrySeconds of both instances. */
  leaseRetrySeconds: number;
  /** A unique tag for this run's Message-IDs and subjects. */
  tag: string;
  /** Bound for each wait (a broken promise fails instead of hanging). */
  waitMs: number;
}

export interface TwoInstanceFigures {
  sent: number;
  /** Sent messages with no inbound message row in a case. */
  lost: number;
  /** Sent messages stored more than once, or in more than one case. */
  duplicateCases: number;
  acknowledgementsMissing: number;
  /** Acknowledgements beyond the first per message (each with the same Message-ID as the first, see sameMessageId). */
  duplicateAcknowledgements: number;
  /** Whether every repeated acknowledgement carried the Message-ID of the first. */
  sameMessageId: boolean;
  /** Kill → the other instance's "mailbox lease taken" line, per kill. */
  failoverSeconds: number[];
  /** Whether every kill came while some of the IMAP wave was still unanswered (the scenario's premise). */
  killedMidWave: boolean;
}

interface Instance {
  service: ChildService;
  smtpPort: number | null;
  alive: boolean;
}

const LEASE_TAKEN = 'mailbox lease taken';
const STANDING_BY = 'mailbox lease held by another instance: standing by';

function lines(out: string): { msg?: string; port?: number }[] {
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => {
    try {
      return JSON.parse(l) as { msg?: string; port?: number };
    } catch {
      return {};
    }
  });
}

function count(i: Instance, msg: string): number {
  return lines(i.service.output()).filter((l) => l.msg?.startsWith(msg)).length;
}

/** Polls `check` until it is true or the deadline passes (then throws naming `what`). */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function runTwoInstances(env: { dovecot: DovecotServer; sink: SmtpSink; tdb: TestDatabase }, run: TwoInstanceRun): Promise<TwoInstanceFigures> {
  const { dovecot, sink, tdb } = env;
  const dirs: string[] = [];
  const instances: Instance[] = [];
  const childEnv = { IMAP_URL: imapUrl(dovecot), SMTP_URL: smtpUrl(sink), DATABASE_URL: tdb.url };

  const spawn = async (): Promise<Instance> => {
    const dir = mkdtempSync(path.join(tmpdir(), 'casemail-two-'));
    dirs.push(dir);
    const settings = serviceSettings(dir, { imap: { ...(serviceSettings(dir).imap as object), leaseRetrySeconds: run.leaseRetrySeconds } });
    const instance: Instance = { service: spawnService(childEnv, settings, dir), smtpPort: null, alive: true };
    void instance.service.exited.then(() => (instance.alive = false));
    instances.push(instance);
    await until(() => {
      const listening = lines(instance.service.output()).find((l) => l.msg === 'SMTP intake listening');
      if (listening?.port) instance.smtpPort = listening.port;
      return !instance.alive || (instance.smtpPort !== null && count(instance, LEASE_TAKEN) + count(instance, STANDING_BY) > 0);
    }, run.waitMs, 'an instance to start');
    if (!instance.alive) throw new Error(`an instance exited while starting:\n${instance.service.output().slice(-3000)}`);
    return instance;
  };
  /** The live instance whose last lease line says it holds the mailbox. */
  const holder = (): Instance | undefined => instances.filter((i) => i.alive).find((i) => {
    const ls = lines(i.service.output()).filter((l) => l.msg?.startsWith(LEASE_TAKEN) || l.msg?.startsWith('mailbox lease lost') || l.msg?.startsWith(STANDING_BY));
    return ls.at(-1)?.msg?.startsWith(LEASE_TAKEN) ?? false;
  });

  const imapIds: string[] = [];
  const smtpIds: string[] = [];
  let wave = 0;
  const appendWave = async () => {
    const raws = Array.from({ length: run.imapWave }, (_, i) => {
      const n = wave * run.imapWave + i;
      return buildRequest(n, { messageId: `<${run.tag}-imap-${n}@acme.example>`, subject: `${run.tag} imap ${n}` });
    });
    wave += 1;
    imapIds.push(...raws.map((r) => headerOf(r, 'Message-ID')!));
    await appendAll(dovecot, raws);
  };

  const failoverSeconds: number[] = [];
  let killedMidWave = true;
  let sending: Promise<void> = Promise.resolve();
  try {
    // The first instance takes the mailbox; the second stands by.
    const first = await spawn();
    await until(() => count(first, LEASE_TAKEN) === 1, run.waitMs, 'the first instance to take the lease');
    await spawn();

    // SMTP load on both instances for the whole run; a refused or dropped send goes to another live one.
    let next = 0;
    const sendOne = async (n: number) => {
      const raw = buildRequest(10_000 + n, { messageId: `<${run.tag}-smtp-${n}@acme.example>`, subject: `${run.tag} smtp ${n}`, from: 'Carol <carol@acme.example>' });
      smtpIds.push(headerOf(raw, 'Message-ID')!);
      const deadline = Date.now() + run.waitMs;
      for (let attempt = 0; ; attempt++) {
        const live = instances.filter((i) => i.alive && i.smtpPort !== null);
        const target = live[(n + attempt) % Math.max(1, live.length)];
        try {
          if (!target) throw new Error('no live instance');
          // nodemailer rejects on anything but a 2xx reply.
          await sendToIntake(target.smtpPort!, raw, { from: 'carol@acme.example', to: ['support@casemail.localhost'] });
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          // An MTA waits before the next attempt; the next live instance is tried after a short pause.
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const senders = 3;
    const pacingMs = 20;
    sending = Promise.all(Array.from({ length: senders }, async () => {
      while (next < run.smtpCount) {
        const n = next++;
        await sendOne(n);
        // Spread the SMTP load over the run instead of sending it all before the first kill.
        await new Promise((r) => setTimeout(r, pacingMs));
      }
    })).then(() => undefined);
    sending.catch(() => {});

    await appendWave();
    for (let k = 0; k < run.kills; k++) {
      // Kill the holder once it has answered some of the current wave, with more of it to come.
      const waveIds = new Set(imapIds.slice(-run.imapWave));
      const answeredOfWave = () => [...distinctAnswered(sink.messages)].filter((id) => waveIds.has(id)).length;
      await until(() => answeredOfWave() >= Math.max(1, Math.floor(run.imapWave / 5)), run.waitMs, 'the holder to answer part of the wave');
      const victim = holder();
      if (!victim) throw new Error('no instance holds the mailbox lease');
      const others = instances.filter((i) => i.alive && i !== victim);
      const takenBefore = new Map(others.map((o) => [o, count(o, LEASE_TAKEN)]));
      const killedAt = Date.now();
      victim.service.child.kill('SIGKILL');
      await victim.service.exited;
      victim.alive = false;
      if (answeredOfWave() >= run.imapWave) killedMidWave = false;
      await until(() => others.some((o) => count(o, LEASE_TAKEN) > takenBefore.get(o)!), run.waitMs, 'another instance to take the lease over');
      failoverSeconds.push((Date.now() - killedAt) / 1000);
      // Mail that only the new holder can consume, and a fresh instance to stand by.
      await appendWave();
      await spawn();
    }

    await sending;
    const allIds = [...imapIds, ...smtpIds];
    const wanted = new Set(allIds);
    await until(() => [...distinctAnswered(sink.messages)].filter((id) => wanted.has(id)).length >= allIds.length, run.waitMs, 'every acknowledgement');

    // The counts.
    const rows = await tdb.db.selectFrom('messages').select(['message_id_header', 'case_id'])
      .where('direction', '=', 'inbound').where('message_id_header', 'like', `<${run.tag}-%`).execute();
    const byId = new Map<string, { rows: number; cases: Set<number> }>();
    for (const r of rows) {
      const e = byId.get(r.message_id_header!) ?? { rows: 0, cases: new Set<number>() };
      e.rows += 1;
      if (r.case_id !== null) e.cases.add(Number(r.case_id));
      byId.set(r.message_id_header!, e);
    }
    const lost = allIds.filter((id) => (byId.get(id)?.cases.size ?? 0) === 0).length;
    const duplicateCases = allIds.filter((id) => (byId.get(id)?.rows ?? 0) > 1 || (byId.get(id)?.cases.size ?? 0) > 1).length;
    const acks = acknowledgements(sink.messages).filter((m) => wanted.has(headerOf(m.raw, 'In-Reply-To') ?? ''));
    const ackIds = new Map<string, string[]>();
    for (const a of acks) {
      const key = headerOf(a.raw, 'In-Reply-To')!;
      ackIds.set(key, [...(ackIds.get(key) ?? []), headerOf(a.raw, 'Message-ID') ?? '']);
    }
    const missing = allIds.filter((id) => !ackIds.has(id)).length;
    const duplicateAcknowledgements = [...ackIds.values()].reduce((n, ids) => n + ids.length - 1, 0);
    const sameMessageId = [...ackIds.values()].every((ids) => new Set(ids).size === 1);
    return { sent: allIds.length, lost, duplicateCases, acknowledgementsMissing: missing, duplicateAcknowledgements, sameMessageId, failoverSeconds, killedMidWave };
  } finally {
    await sending.catch(() => {});
    for (const i of instances.filter((x) => x.alive)) i.service.child.kill('SIGTERM');
    await Promise.all(instances.map((i) => i.service.exited));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

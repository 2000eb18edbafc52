// The ordered list of migrations. Each file is frozen in time; add new ones, never edit old ones.
import type { Migration } from 'kysely';
import * as m20261128140000 from './20261128140000_initial.js';
import * as m20261130190000 from './20261130190000_sender_activity_index.js';
import * as m20261130210000 from './20261130210000_engineer_mail.js';
import * as m20261201080000 from './20261201080000_timers.js';
import * as m20261201120000 from './20261201120000_automatic_mail_log_at.js';
import * as m20261201150000 from './20261201150000_bytes_lz4.js';
import * as m20261202160000 from './20261202160000_attachments_from_raw.js';

export const migrations: Record<string, Migration> = {
  '20261128140000_initial': m20261128140000,
  '20261130190000_sender_activity_index': m20261130190000,
  '20261130210000_engineer_mail': m20261130210000,
  '20261201080000_timers': m20261201080000,
  '20261201120000_automatic_mail_log_at': m20261201120000,
  '20261201150000_bytes_lz4': m20261201150000,
  '20261202160000_attachments_from_raw': m20261202160000,
};

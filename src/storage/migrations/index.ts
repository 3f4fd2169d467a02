// Versioned schema migrations, applied in name order at start-up. Written once with
// Kysely's schema builder so the same steps run on SQLite and PostgreSQL.
import { sql, type Kysely, type Migration } from 'kysely';

type Dialect = 'sqlite' | 'postgresql';

export function migrations(dialect: Dialect): Record<string, Migration> {
  const autoId = dialect === 'sqlite' ? 'integer' : 'serial';
  return {
    '0001_initial': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('extensions')
          .addColumn('number', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_enc', 'text', (c) => c.notNull())
          .addColumn('voicemail_pin_enc', 'text')
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('devices')
          .addColumn('mac', 'text', (c) => c.primaryKey())
          .addColumn('vendor', 'text', (c) => c.notNull())
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('overrides', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('last_provisioned', 'text')
          .addColumn('last_ip', 'text')
          .addColumn('last_user_agent', 'text')
          .addColumn('last_served_url', 'text')
          .execute();
        await db.schema
          .createTable('device_lines')
          .addColumn('device_mac', 'text', (c) => c.notNull().references('devices.mac').onDelete('cascade'))
          .addColumn('line_index', 'integer', (c) => c.notNull())
          .addColumn('extension_number', 'text', (c) => c.notNull().references('extensions.number'))
          .addPrimaryKeyConstraint('device_lines_pk', ['device_mac', 'line_index'])
          .execute();
        await db.schema
          .createIndex('device_lines_extension')
          .on('device_lines')
          .column('extension_number')
          .execute();
        await db.schema
          .createTable('provisioning_requests')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('ip', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('mac', 'text')
          .addColumn('user_agent', 'text')
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('vendor', 'text')
          .addColumn('model', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('provisioning_requests_mac').on('provisioning_requests').column('mac').execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .addColumn('expires_at', 'text')
          .addColumn('revoked_at', 'text')
          .execute();
        if (dialect === 'sqlite') await sql`PRAGMA foreign_keys = ON`.execute(db);
      },
    },
    '0002_sip': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('registrations')
          .addColumn('aor', 'text', (c) => c.notNull())
          .addColumn('contact', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('transport', 'text', (c) => c.notNull())
          .addColumn('source_address', 'text', (c) => c.notNull())
          .addColumn('source_port', 'integer', (c) => c.notNull())
          .addColumn('flow_id', 'text', (c) => c.notNull())
          .addColumn('user_agent', 'text')
          .addColumn('call_id', 'text', (c) => c.notNull())
          .addColumn('cseq', 'integer', (c) => c.notNull())
          .addColumn('q', 'text')
          .addColumn('instance', 'text')
          .addColumn('reg_id', 'integer')
          .addColumn('path', 'text')
          .addColumn('registered_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('registrations_pk', ['aor', 'contact'])
          .execute();
        await db.schema
          .createTable('cdr')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('call_id', 'text', (c) => c.notNull())
          .addColumn('caller', 'text', (c) => c.notNull())
          .addColumn('callee', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('answered_at', 'text')
          .addColumn('ended_at', 'text', (c) => c.notNull())
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('hangup_side', 'text')
          .addColumn('duration_seconds', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('cdr_started').on('cdr').column('started_at').execute();
      },
    },
    '0003_digest_algorithms_and_nat': {
      async up(db: Kysely<any>) {
        // JSON list such as ["MD5"]; NULL = the sip.digest_algorithms default.
        await db.schema.alterTable('extensions').addColumn('digest_algorithms', 'text').execute();
        // 1 when the REGISTER came from another address than its Via names (behind NAT).
        await db.schema.alterTable('registrations').addColumn('behind_nat', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      },
    },
    '0004_sync_state_and_legacy_listeners': {
      async up(db: Kysely<any>) {
        // Hash of the account file the phone last fetched, to compare with what it would get now.
        await db.schema.alterTable('devices').addColumn('last_fetch_hash', 'text').execute();
        await db.schema.alterTable('devices').addColumn('last_fetch_port', 'integer').execute();
        await db.schema.alterTable('devices').addColumn('last_fetch_legacy', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('devices').addColumn('resync_sent_at', 'text').execute();
        // Ports the provisioning server used before: still served until `until`.
        await db.schema
          .createTable('legacy_listeners')
          .addColumn('port', 'integer', (c) => c.primaryKey())
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('scheme', 'text', (c) => c.notNull())
          .addColumn('until', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_admins': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('admins')
          .addColumn('username', 'text', (c) => c.primaryKey())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('locked_until', 'text')
          .addColumn('last_login_at', 'text')
          .execute();
      },
    },
    '0006_provisioning_credentials': {
      async up(db: Kysely<any>) {
        // Filled in (generated, sealed) by the device service at start for older rows.
        await db.schema.alterTable('devices').addColumn('prov_user', 'text').execute();
        await db.schema.alterTable('devices').addColumn('prov_secret_enc', 'text').execute();
        await db.schema.alterTable('devices').addColumn('window_opened_at', 'text').execute();
        await db.schema.alterTable('devices').addColumn('prov_authenticated_at', 'text').execute();
        await db.schema.alterTable('devices').addColumn('listener', 'text', (c) => c.notNull().defaultTo('default')).execute();
      },
    },
    '0009_first_fetch_window_use': {
      async up(db: Kysely<any>) {
        // When the phone first fetched its file through the first-fetch window (it closes soon after).
        await db.schema.alterTable('devices').addColumn('window_used_at', 'text').execute();
      },
    },
    '0010_registration_contact_params': {
      // Contact header parameters (+sip.instance, reg-id, feature tags) were kept in
      // memory only: a binding reloaded at start lost them from the 200 it lists them in.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('registrations').addColumn('contact_params', 'text', (c) => c.notNull().defaultTo('')).execute();
      },
    },
    '0011_dialogs': {
      // Answered calls' dialogs, so a restart neither loses their in-dialog routing nor their CDR.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('dialogs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('call_id', 'text', (c) => c.notNull())
          .addColumn('caller_tag', 'text', (c) => c.notNull())
          .addColumn('callee_tag', 'text', (c) => c.notNull())
          .addColumn('caller_peer', 'text', (c) => c.notNull())
          .addColumn('callee_peer', 'text', (c) => c.notNull())
          .addColumn('caller', 'text')
          .addColumn('callee', 'text')
          .addColumn('started_at', 'text')
          .addColumn('answered_at', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0012_voicemail': {
      // A mailbox per extension (its settings; no row = defaults) and its messages. A message
      // row is written only once its WAV file is complete (services/voicemail/store.ts).
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('mailboxes')
          .addColumn('number', 'text', (c) => c.primaryKey())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('pin_hash', 'text')
          .addColumn('email', 'text')
          .addColumn('attach_audio', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('delete_after_email', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('max_messages', 'integer')
          .addColumn('no_answer_seconds', 'integer')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('voicemail_messages')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('mailbox', 'text', (c) => c.notNull())
          .addColumn('caller', 'text', (c) => c.notNull())
          .addColumn('caller_name', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .addColumn('folder', 'text', (c) => c.notNull())
          .addColumn('file', 'text', (c) => c.notNull())
          .addColumn('emailed_at', 'text')
          .execute();
        await db.schema.createIndex('voicemail_messages_mailbox').on('voicemail_messages').columns(['mailbox', 'created_at']).execute();
      },
    },
    '0013_cdr_media': {
      // What the pbx measured of the RTP of calls it answered itself (voicemail …); null for proxied calls.
      async up(db: Kysely<any>) {
        for (const column of ['media_packets_sent', 'media_packets_received', 'media_packets_lost']) {
          await db.schema.alterTable('cdr').addColumn(column, 'integer').execute();
        }
        await db.schema.alterTable('cdr').addColumn('media_jitter_ms', 'real').execute();
      },
    },
    '0016_extension_outbound_class': {
      // What outside numbers an extension may call; null: dialplan.default_class.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('extensions').addColumn('outbound_class', 'text').execute();
      },
    },
    '0017_inbound_calls': {
      // Calls with the outside world: which way a call went, through which trunk, to which
      // number (DID); and where each trunk puts the DID of its inbound calls.
      async up(db: Kysely<any>) {
        for (const column of ['direction', 'trunk', 'did']) await db.schema.alterTable('cdr').addColumn(column, 'text').execute();
        await db.schema.alterTable('trunks').addColumn('did_from', 'text', (c) => c.notNull().defaultTo('auto')).execute();
      },
    },
    '0018_registration_node': {
      // Several nodes on one database: each binding says which node it arrived on (that
      // node owns the row; the others reach the phone through the binding's Path), and
      // PostgreSQL tells the other nodes when a node's bindings change.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('registrations').addColumn('node_id', 'text', (c) => c.notNull().defaultTo('')).execute();
        if (dialect !== 'postgresql') return;
        await sql`CREATE TRIGGER registrations_notify_change
          AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registrations
          FOR EACH STATEMENT EXECUTE FUNCTION pbx_notify_change()`.execute(db);
      },
    },
    '0019_registrations_announced': {
      // A node now names the AORs each batch of bindings changed (Location's announce), and
      // the others reload just those: the table-wide signal made each node reload every
      // other node's bindings once a second while any phone refreshed.
      async up(db: Kysely<any>) {
        if (dialect !== 'postgresql') return;
        await sql`DROP TRIGGER IF EXISTS registrations_notify_change ON registrations`.execute(db);
      },
    },
    '0020_sqlite_change_counter': {
      // SQLite's data_version says that another connection committed, not what: the
      // server's own writer thread is such a connection. A counter bumped by triggers on
      // the tables the server mirrors in memory (and, on devices, only by the columns an
      // admin changes, not the fetch and window state the server writes as phones fetch)
      // tells a commit that needs a reload from one that does not (database.ts watch).
      async up(db: Kysely<any>) {
        if (dialect !== 'sqlite') return;
        await sql`CREATE TABLE pbx_change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)`.execute(db);
        await sql`INSERT INTO pbx_change_counter (id, n) VALUES (1, 0)`.execute(db);
        const bump = sql.raw('BEGIN UPDATE pbx_change_counter SET n = n + 1 WHERE id = 1; END');
        const onUpdate: Record<string, string> = {
          extensions: '',
          device_lines: '',
          trunks: '',
          devices: ' OF mac, vendor, model, label, overrides, updated_at, prov_user, prov_secret_enc, listener',
        };
        for (const [table, columns] of Object.entries(onUpdate)) {
          for (const event of ['INSERT', 'DELETE', `UPDATE${columns}`]) {
            const name = `${table}_count_${event.split(' ')[0]!.toLowerCase()}`;
            await sql`CREATE TRIGGER ${sql.id(name)} AFTER ${sql.raw(event)} ON ${sql.table(table)} ${bump}`.execute(db);
          }
        }
      },
    },
    '0015_cdr_one_way': {
      // An anchored call whose RTP flowed one way only: which side sent nothing (null: none seen).
      async up(db: Kysely<any>) {
        await db.schema.alterTable('cdr').addColumn('media_one_way', 'text').execute();
      },
    },
    '0014_trunks': {
      // SIP trunks to providers (pbx/trunks/): where to send, how to register, what to allow.
      // The password is sealed like SIP secrets; lists are JSON text.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('trunks')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('port', 'integer')
          .addColumn('transport', 'text', (c) => c.notNull())
          .addColumn('outbound_proxy', 'text')
          .addColumn('register', 'integer', (c) => c.notNull())
          .addColumn('username', 'text')
          .addColumn('auth_username', 'text')
          .addColumn('password_enc', 'text')
          .addColumn('realm', 'text')
          .addColumn('expiry_seconds', 'integer', (c) => c.notNull())
          .addColumn('contact_user', 'text')
          .addColumn('from_user', 'text')
          .addColumn('allowed_addresses', 'text', (c) => c.notNull())
          .addColumn('codecs', 'text', (c) => c.notNull())
          .addColumn('dtmf_mode', 'text', (c) => c.notNull())
          .addColumn('max_calls', 'integer')
          .addColumn('priority', 'integer', (c) => c.notNull())
          .addColumn('caller_id_header', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        if (dialect === 'postgresql') {
          await sql`CREATE TRIGGER trunks_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trunks
            FOR EACH STATEMENT EXECUTE FUNCTION pbx_notify_change()`.execute(db);
        }
      },
    },
    '0008_postgresql_nodes': {
      // PostgreSQL only; SQLite has 64-bit rowids and data_version already.
      async up(db: Kysely<any>) {
        if (dialect !== 'postgresql') return;
        // serial is 32-bit: a request log fed by scanners would run its sequence out
        // (SQLite ids are 64-bit). Make the growing tables' ids bigint.
        for (const table of ['provisioning_requests', 'cdr']) {
          await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN id TYPE bigint`.execute(db);
          await sql`ALTER SEQUENCE ${sql.table(`${table}_id_seq`)} AS bigint`.execute(db);
        }
        // Several pbx processes on one database: a statement that changes a table the
        // server keeps in memory notifies the others at commit (storage/pg-changes.ts).
        await sql`CREATE FUNCTION pbx_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            PERFORM pg_notify('pbx_changes', TG_TABLE_NAME);
            RETURN NULL;
          END
        $$`.execute(db);
        for (const table of ['extensions', 'devices', 'device_lines']) {
          await sql`CREATE TRIGGER ${sql.id(`${table}_notify_change`)}
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)}
            FOR EACH STATEMENT EXECUTE FUNCTION pbx_notify_change()`.execute(db);
        }
      },
    },
  };
}

// The mobile app's sync client, as it runs on a phone: WatermelonDB with its schema v7 and seed
// rows, on LokiJS (in memory), calling synchronize() against a live Basis server the way the
// app's sync code does. Devices are named in the input; the output is what each one holds.
'use strict'

const { Database, Model, appSchema, tableSchema, Q } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { schemaMigrations } = require('@nozbe/watermelondb/Schema/migrations')
const { synchronize } = require('@nozbe/watermelondb/sync')
const logger = require('@nozbe/watermelondb/utils/common/logger').default

logger.silence()

const timestamps = [
  { name: 'created_at', type: 'number' },
  { name: 'updated_at', type: 'number' },
]
const schema = appSchema({
  version: 7,
  tables: [
    tableSchema({ name: 'transfusions', columns: [
      { name: 'date', type: 'string' },
      { name: 'component', type: 'string', isOptional: true },
      { name: 'volume', type: 'number' },
      { name: 'weight', type: 'number' },
      { name: 'volume_per_kg', type: 'number' },
      { name: 'hb_before', type: 'number' },
      { name: 'hb_after', type: 'number' },
      { name: 'delta_hb', type: 'number' },
      { name: 'chelator', type: 'string', isOptional: true },
      ...timestamps] }),
    tableSchema({ name: 'analyses', columns: [
      { name: 'name', type: 'string' },
      { name: 'date', type: 'string' },
      { name: 'template_name', type: 'string', isOptional: true },
      ...timestamps] }),
    tableSchema({ name: 'analysis_items', columns: [
      { name: 'analysis_id', type: 'string', isIndexed: true },
      { name: 'name', type: 'string' },
      { name: 'value', type: 'string' },
      { name: 'unit', type: 'string' },
      ...timestamps] }),
    tableSchema({ name: 'reminders', columns: [
      { name: 'title', type: 'string' },
      { name: 'date', type: 'string' },
      { name: 'time', type: 'string' },
      { name: 'repeat', type: 'string' },
      { name: 'note', type: 'string', isOptional: true },
      ...timestamps] }),
    tableSchema({ name: 'component_types', columns: [
      { name: 'name', type: 'string' },
      { name: 'icon_name', type: 'string' },
      { name: 'is_default', type: 'boolean' },
      { name: 'sort_order', type: 'number' },
      ...timestamps] }),
    tableSchema({ name: 'chelator_types', columns: [
      { name: 'name', type: 'string' },
      { name: 'is_default', type: 'boolean' },
      { name: 'sort_order', type: 'number' },
      ...timestamps] }),
    tableSchema({ name: 'analysis_templates', columns: [
      { name: 'name', type: 'string' },
      { name: 'is_default', type: 'boolean' },
      ...timestamps] }),
    tableSchema({ name: 'analysis_template_items', columns: [
      { name: 'template_id', type: 'string', isIndexed: true },
      { name: 'name', type: 'string' },
      { name: 'unit', type: 'string' },
      ...timestamps] }),
  ],
})

const TABLES = schema.tables ? Object.keys(schema.tables) : []
const modelClasses = TABLES.map((table) => {
  const M = class extends Model {}
  M.table = table
  return M
})

// The mobile app's own seed rows (seedDefaultData): it pushes them on its first sync.
const SEED = {
  component_types: [
    ['comp_hb_01', { name: 'Гемоглобин', icon_name: 'droplet', is_default: true, sort_order: 1 }],
    ['comp_fe_01', { name: 'Ферритин', icon_name: 'flask-conical', is_default: true, sort_order: 2 }],
    ['comp_plt_01', { name: 'Тромбоциты', icon_name: 'history', is_default: true, sort_order: 3 }],
  ],
  chelator_types: [
    ['chel_none_01', { name: 'Нет', is_default: true, sort_order: 0 }],
    ['chel_desf_01', { name: 'Десферал', is_default: true, sort_order: 1 }],
    ['chel_exja_01', { name: 'Эксиджад', is_default: true, sort_order: 2 }],
    ['chel_jade_01', { name: 'Джадену', is_default: true, sort_order: 3 }],
  ],
  analysis_templates: [
    ['tmpl_cbc_01', { name: 'Общий анализ крови', is_default: true }],
    ['tmpl_biochem_01', { name: 'Биохимический анализ', is_default: true }],
  ],
  analysis_template_items: [
    ['tmpl_item_hb_01', { template_id: 'tmpl_cbc_01', name: 'Гемоглобин', unit: 'g/l' }],
    ['tmpl_item_fer_01', { template_id: 'tmpl_biochem_01', name: 'Ферритин', unit: 'нг/мл' }],
  ],
}

class Device {
  constructor(name, baseUrl, token) {
    this.name = name
    this.baseUrl = baseUrl
    this.token = token
    this.db = new Database({
      adapter: new LokiJSAdapter({
        schema,
        // The app enables migration syncs from v6; its step to v7 changed no synced column here.
        migrations: schemaMigrations({ migrations: [{ toVersion: 7, steps: [] }] }),
        dbName: name,
        useWebWorker: false,
        useIncrementalIndexedDB: false,
        extraLokiOptions: { autosave: false },
      }),
      modelClasses,
    })
    this.online = true
    this.beforePush = null
  }

  async api(method, path, { params, body } = {}) {
    const url = new URL(`/api/v1${path}`, this.baseUrl)
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value))
    }
    const response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    if (!response.ok) {
      const error = new Error(`${method} ${path}: ${response.status} ${text}`)
      error.status = response.status
      error.body = text
      throw error
    }
    return JSON.parse(text)
  }

  async seed() {
    await this.db.write(async () => {
      for (const [table, rows] of Object.entries(SEED)) {
        for (const [id, values] of rows) {
          await this.db.get(table).create((record) => {
            record._raw.id = id
            for (const [key, value] of Object.entries(values)) record._setRaw(key, value)
          })
        }
      }
    })
  }

  // The app's sync call (src/database/sync.ts): GET /sync then POST /sync {changes, last_pulled_at}.
  async sync() {
    if (!this.online) throw new Error(`${this.name} is offline`)
    await synchronize({
      database: this.db,
      pullChanges: async ({ lastPulledAt, schemaVersion }) => {
        const { changes, timestamp } = await this.api('GET', '/sync', {
          params: { last_pulled_at: lastPulledAt, schema_version: schemaVersion },
        })
        return { changes, timestamp }
      },
      pushChanges: async ({ changes, lastPulledAt }) => {
        if (this.beforePush) {
          const hook = this.beforePush
          this.beforePush = null
          await hook()
        }
        await this.api('POST', '/sync', { body: { changes, last_pulled_at: lastPulledAt } })
      },
      migrationsEnabledAtVersion: 6,
    })
  }

  async create(table, id, values) {
    await this.db.write(async () => {
      await this.db.get(table).create((record) => {
        record._raw.id = id
        for (const [key, value] of Object.entries(values)) record._setRaw(key, value)
      })
    })
  }

  async update(table, id, values) {
    await this.db.write(async () => {
      const record = await this.db.get(table).find(id)
      await record.update((r) => {
        for (const [key, value] of Object.entries(values)) r._setRaw(key, value)
      })
    })
  }

  async remove(table, id) {
    await this.db.write(async () => {
      const record = await this.db.get(table).find(id)
      await record.markAsDeleted()
    })
  }

  async dump() {
    const out = {}
    for (const table of TABLES) {
      const records = await this.db.get(table).query().fetch()
      out[table] = records
        .map((r) => {
          const { _status, _changed, ...raw } = r._raw
          return raw
        })
        .sort((a, b) => (a.id < b.id ? -1 : 1))
    }
    return out
  }
}

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'))
  const devices = {}
  for (const [name, token] of Object.entries(input.devices)) {
    devices[name] = new Device(name, input.base_url, token)
  }
  const log = []
  const run = async (step) => {
    const device = devices[step.device]
    switch (step.op) {
      case 'seed': return device.seed()
      case 'sync': return device.sync()
      case 'create': return device.create(step.table, step.id, step.values)
      case 'update': return device.update(step.table, step.id, step.values)
      case 'delete': return device.remove(step.table, step.id)
      case 'offline': device.online = false; return undefined
      case 'online': device.online = true; return undefined
      case 'race': {
        // Another device's change lands between this device's pull and its push.
        device.beforePush = async () => { for (const inner of step.then) await run(inner) }
        return undefined
      }
      default: throw new Error(`unknown step ${step.op}`)
    }
  }
  for (const [index, step] of input.steps.entries()) {
    try {
      await run(step)
      log.push({ index, op: step.op, device: step.device, ok: true })
    } catch (error) {
      log.push({ index, op: step.op, device: step.device, ok: false, status: error.status || null,
        error: String(error.body || error.message).slice(0, 500) })
      if (!step.may_fail) break
    }
  }
  const state = {}
  for (const [name, device] of Object.entries(devices)) state[name] = await device.dump()
  require('fs').writeFileSync(input.out, JSON.stringify({ log, state }))
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error))
  process.exit(1)
})

// The custom actions of ShopService: several writes in one transaction, and a slow one.
const cds = require('@sap/cds')

module.exports = class ShopService extends cds.ApplicationService {
    init() {
        const { Products } = this.entities

        this.on('insertProducts', async (req) => {
            const { count, namePrefix } = req.data
            if (!Number.isInteger(count) || count < 1 || count > 10000)
                return req.reject(400, 'count must be between 1 and 10000')
            const rows = []
            for (let i = 0; i < count; i++)
                rows.push({ ID: cds.utils.uuid(), name: `${namePrefix ?? 'Batch'} ${i}` })
            // One INSERT in the request's transaction: managed stamps them all with $now.
            await INSERT.into(Products).entries(rows)
            return SELECT.from(Products).where({ ID: { in: rows.map((r) => r.ID) } }).orderBy('ID')
        })

        this.on('updateProducts', async (req) => {
            const { IDs, name } = req.data
            if (!Array.isArray(IDs) || IDs.length === 0) return req.reject(400, 'IDs are required')
            await UPDATE(Products).set({ name }).where({ ID: { in: IDs } })
            return SELECT.from(Products).where({ ID: { in: IDs } }).orderBy('ID')
        })

        this.on('slowUpsertProduct', async (req) => {
            const { ID, name, delayMs } = req.data
            if (!ID) return req.reject(400, 'ID is required')
            // $now is the request's timestamp, fixed on first use: fix it now, before the
            // wait, as a transaction that started now would stamp it.
            const stamp = cds.context.timestamp
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, delayMs ?? 0)))
            const found = await SELECT.one.from(Products).columns('ID').where({ ID })
            if (found) await UPDATE(Products).set({ name }).where({ ID })
            else await INSERT.into(Products).entries({ ID, name })
            const row = await SELECT.one.from(Products).where({ ID })
            console.log(`slowUpsertProduct ${ID}: stamped ${stamp.toISOString()}, committing`)
            return row
        })

        return super.init()
    }
}

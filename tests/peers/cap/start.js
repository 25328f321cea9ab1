// Starts the peer: a fresh SQLite database in the working folder, deterministic seed data,
// ShopService on 127.0.0.1 only. Environment:
//   PORT                      the port (0, the default: any free one)
//   BATCHSYNC_CAP_PAGE_MAX    CAP's page cap, cds.query.limit.max (default 1000)
//   BATCHSYNC_CAP_PRODUCTS    seeded Products (default 5000); OrderLines, Currencies likewise
// Prints "batchsync-cap listening on http://127.0.0.1:PORT/" once it serves.
const fs = require('fs')
const path = require('path')
const express = require('express')
const cds = require('@sap/cds')
const seed = require('./seed')

const count = (name, fallback) => {
    const v = process.env[name]
    return v === undefined || v === '' ? fallback : Number.parseInt(v, 10)
}

async function main() {
    cds.root = __dirname
    const pageMax = count('BATCHSYNC_CAP_PAGE_MAX', 1000)
    cds.env.query.limit.max = pageMax
    const dbFile = path.join(__dirname, cds.env.requires.db.credentials.url)
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbFile + suffix, { force: true })

    const app = express()
    cds.app = app
    const csn = await cds.load('*')
    cds.model = cds.compile.for.nodejs(csn)
    cds.db = await cds.connect.to('db')
    await cds.deploy(csn).to(cds.db)

    const { Products, OrderLines, Currencies } = cds.entities('batchsync.peer')
    await INSERT.into(Products).entries(seed.rows(seed.product, count('BATCHSYNC_CAP_PRODUCTS', 5000)))
    await INSERT.into(OrderLines).entries(seed.rows(seed.orderLine, count('BATCHSYNC_CAP_ORDERLINES', 400)))
    await INSERT.into(Currencies).entries(seed.rows(seed.currency, count('BATCHSYNC_CAP_CURRENCIES', 300)))

    await cds.serve('all').in(app)
    await cds.emit('served', cds.services)

    const server = app.listen(count('PORT', 0), '127.0.0.1', () => {
        console.log(`batchsync-cap listening on http://127.0.0.1:${server.address().port}/ (page cap ${pageMax})`)
    })
    const stop = () => server.close(() => process.exit(0))
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
}

main().catch((e) => {
    console.error('batchsync-cap failed to start:', e)
    process.exit(1)
})

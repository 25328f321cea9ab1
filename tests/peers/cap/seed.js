// Deterministic seed data: the same records, keys and change times at every start.
const crypto = require('crypto')

// Text with every kind of Unicode a client must keep exactly.
const TEXTS = [
    'Crème brûlée à la française, Ærøskøbing, Straße',
    '日本語のテキスト · 中文 · 한국어',
    'emoji 😀🎉👩‍👩‍👧 astral 𝄞 𠜎',
    'RTL עברית \u200fالعربية\u200e mixed',
    'combining e\u0301 a\u0308 n\u0303 (NFD) vs é ä ñ (NFC)',
    'quotes "double" \'single\' ‘curly’ “curly”',
    'backslash \\ slash / \\u0041 not an escape',
    'newline\nsecond line\r\nthird\ttabbed',
    'controls \u0001 \u001f and zero width \u200b joiner \u200d BOM \ufeff',
    'last plane \u{10FFFF} and U+FFFD \ufffd',
    '',
]

const ms = (iso) => Date.parse(iso)
const BASE = ms('2024-01-01T00:00:00.000Z')
const DAY = 86400000

function uuid(seed) {
    const h = crypto.createHash('sha1').update(seed).digest('hex')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

const iso = (t) => new Date(t).toISOString()
const date = (t) => iso(t).slice(0, 10)
const dateTime = (t) => iso(t).slice(0, 19) + 'Z'

// Int64 values as strings: exact beyond 2^53, and the extremes.
const INT64 = ['9007199254740993', '-9007199254740993', '9223372036854775807',
    '-9223372036854775808', '0', '-1', '9007199254740992', '12345678901234567']
const DECIMALS = ['999999999999.999', '-999999999999.999', '0.001', '-0.001', '0.000',
    '123456789012.345', '0.100', '1.000']

function product(i) {
    // Three records share each change time: ties that a keyset page must break by key.
    const changed = BASE + Math.floor(i / 3) * 1001 + 7
    const nulls = i % 17 === 5
    const p = {
        ID: uuid(`product-${i}`),
        createdAt: iso(changed - DAY),
        createdBy: 'seed',
        modifiedAt: iso(changed),
        modifiedBy: 'seed',
        name: `Product ${i}`,
        price: i < DECIMALS.length ? DECIMALS[i]
            : `${i % 7 === 0 ? '-' : ''}${(i * 7919) % 1000000}.${String((i * 37) % 1000).padStart(3, '0')}`,
        stock: i < INT64.length ? INT64[i]
            : i % 5 === 0 ? (9007199254740993n + BigInt(i) * 2n).toString()
                : String((i * 1000003) % 2000000 - 1000000),
        rating: [0.1, 1 / 3, 1e21, -2.5e-7, 5e-324, 1.5e300, -0.5][i % 7] * (1 + (i % 11)),
        active: i % 2 === 0,
        releaseDate: date(BASE - i * DAY),
        lastSold: dateTime(BASE + i * 3600000 + 1234),
        lastAudit: iso(BASE + i * 60001 + 123),
        note: `${TEXTS[i % TEXTS.length]} #${i}`,
    }
    if (nulls) for (const k of ['price', 'stock', 'rating', 'active', 'releaseDate', 'lastSold',
        'lastAudit', 'note']) p[k] = null
    return p
}

const LINE_CODES = ['A', 'b 2', "O'K", 'ü', 'a+b', 'é€', '100%', '日本']

function orderLine(i) {
    const changed = BASE + 5000000 + Math.floor(i / 2) * 10
    return {
        orderNo: 1000 + Math.floor(i / LINE_CODES.length) * (i % 3 === 0 ? -1 : 1) * 7,
        lineCode: LINE_CODES[i % LINE_CODES.length],
        createdAt: iso(changed),
        createdBy: 'seed',
        modifiedAt: iso(changed),
        modifiedBy: 'seed',
        quantity: i % 4 === 0 ? (9007199254740993n + BigInt(i)).toString() : String(i * 3 - 100),
        amount: `${i % 5 === 0 ? '-' : ''}${(i * 104729) % 10000000000}.${String(i % 100).padStart(2, '0')}`,
        shipped: i % 3 === 1,
        comment: i % 13 === 0 ? null : TEXTS[(i * 5) % TEXTS.length],
    }
}

function currency(i) {
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
    return {
        code: letters[Math.floor(i / 676) % 26] + letters[Math.floor(i / 26) % 26] + letters[i % 26],
        name: `${TEXTS[i % TEXTS.length].slice(0, 60)} ${i}`,
        rate: `${i % 3}.${String((i * 9973) % 1000000).padStart(6, '0')}`,
        minor: i % 4,
    }
}

function rows(make, count) {
    const out = []
    for (let i = 0; i < count; i++) out.push(make(i))
    return out
}

module.exports = { product, orderLine, currency, rows }

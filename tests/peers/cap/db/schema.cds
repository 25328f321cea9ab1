// The data of the OData peer: every kind of key and property type the OData source maps.
namespace batchsync.peer;

using { cuid, managed } from '@sap/cds/common';

// The main managed set: Guid key, modifiedAt, one property of each mapped type.
entity Products : cuid, managed {
    name        : String(200);
    price       : Decimal(15, 3);
    stock       : Int64;
    rating      : Double;
    active      : Boolean;
    releaseDate : Date;
    lastSold    : DateTime;
    lastAudit   : Timestamp;
    note        : String(1000);
}

// A composite key (Integer + String), managed too. CAP orders Strings COLLATE NOCASE on
// SQLite but compares them in $filter bytewise, which a keyset query on the key cannot follow:
// @cds.collate: false orders the key bytewise too.
entity OrderLines : managed {
    key orderNo  : Integer;
    key lineCode : String(10) @cds.collate: false;
        quantity : Int64;
        amount   : Decimal(12, 2);
        shipped  : Boolean;
        comment  : String(1000);
}

// No change-time property: a client reloads it whole.
entity Currencies {
    key code  : String(3);
        name  : String(100);
        rate  : Decimal(15, 6);
        minor : Integer;
}

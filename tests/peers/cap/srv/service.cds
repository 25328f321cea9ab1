using { batchsync.peer as db } from '../db/schema';

// Served at /odata/v4/shop/, for authenticated users only (Basic, users in package.json).
@requires: 'authenticated-user'
@path: '/odata/v4/shop'
service ShopService {
    entity Products   as projection on db.Products;
    entity OrderLines as projection on db.OrderLines;
    entity Currencies as projection on db.Currencies;

    // Inserts count products in one transaction: all share one modifiedAt.
    action insertProducts(count : Integer, namePrefix : String) returns array of Products;

    // Sets name on each listed product in one transaction: all share one modifiedAt.
    action updateProducts(IDs : array of UUID, name : String) returns array of Products;

    // Updates (or creates) one product after waiting delayMs: its modifiedAt is the
    // request's start, committed delayMs later, as a slow transaction's would be.
    action slowUpsertProduct(ID : UUID, name : String, delayMs : Integer) returns Products;
}

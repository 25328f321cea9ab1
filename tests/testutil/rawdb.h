#pragma once

#include <QDebug>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QString>
#include <QVariantList>
#include <atomic>

namespace BatchSync::Test {

/*!
    A plain QtSql connection to a local database file, for looking behind the store's back
    (or writing as another program would). Used in the thread that made it.
*/
class RawDb final
{
    Q_DISABLE_COPY_MOVE(RawDb)

public:
    explicit RawDb(const QString &path)
        : m_name(QStringLiteral("rawdb_%1").arg(++serial()))
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=2000"));
        m_open = db.open();
    }
    ~RawDb()
    {
        {
            QSqlDatabase db = QSqlDatabase::database(m_name, false);
            db.close();
        }
        QSqlDatabase::removeDatabase(m_name);
    }

    bool isOpen() const { return m_open; }

    bool exec(const QString &sql, QString *message = nullptr)
    {
        QSqlQuery query(QSqlDatabase::database(m_name, false));
        if (query.exec(sql))
            return true;
        if (message)
            *message = query.lastError().text();
        return false;
    }

    /*! exec() of another program's statement, saying why when it fails. */
    bool edit(const QString &sql)
    {
        QString problem;
        if (exec(sql, &problem))
            return true;
        qWarning().noquote() << sql << problem;
        return false;
    }

    QList<QVariantList> rows(const QString &sql)
    {
        QList<QVariantList> result;
        QSqlQuery query(QSqlDatabase::database(m_name, false));
        if (!query.exec(sql)) {
            qWarning() << sql << query.lastError().text();
            return result;
        }
        while (query.next()) {
            QVariantList row;
            for (int i = 0; i < query.record().count(); ++i)
                row.append(query.value(i));
            result.append(row);
        }
        return result;
    }

    QVariant scalar(const QString &sql)
    {
        const QList<QVariantList> result = rows(sql);
        return result.isEmpty() || result.first().isEmpty() ? QVariant() : result.first().first();
    }

private:
    static std::atomic<int> &serial()
    {
        static std::atomic<int> value { 0 };
        return value;
    }

    QString m_name;
    bool m_open = false;
};

} // namespace BatchSync::Test

#include "source.h"

#include "common/logging.h"

namespace BatchSync {

// SourceReply

SourceReply::SourceReply(Kind kind, QObject *parent)
    : QObject(parent)
    , m_kind(kind)
{
}

SourceReply::~SourceReply() = default;

void SourceReply::abort()
{
    if (m_finished)
        return;
    fail(ErrorCategory::Aborted, QStringLiteral("cancelled"));
}

void SourceReply::fail(ErrorCategory category, const QString &message, int httpStatus)
{
    if (m_finished)
        return;
    m_error.category = category;
    m_error.message = message;
    m_error.httpStatus = httpStatus;
    qCDebug(lcProtocol).noquote() << errorCategoryName(category) << "error:" << message;
    finish();
}

void SourceReply::finish()
{
    if (m_finished)
        return;
    m_finished = true;
    release();
    // Always from the event loop: a caller may connect to finished() after the call that
    // made the reply, and must never be re-entered from abort().
    QMetaObject::invokeMethod(
        this, [this] { Q_EMIT finished(); }, Qt::QueuedConnection);
}

// Source

Source::Source(QObject *parent)
    : QObject(parent)
{
}

Source::~Source() = default;

bool Source::supports(PagingMode mode) const
{
    return capabilities().testFlag(mode == PagingMode::Cursor ? Capability::CursorPaging
                                                              : Capability::OffsetPaging);
}

namespace {

/*! The answer of a source to a question it cannot take. */
class Refused final : public SourceReply
{
public:
    Refused(Kind kind, const QString &message, QObject *parent)
        : SourceReply(kind, parent)
    {
        fail(ErrorCategory::Request, message);
    }
};

} // namespace

SourceReply *Source::pushChanges(const EntitySchema &entity, const QString &clientId,
                                 const QList<LocalChange> &changes)
{
    Q_UNUSED(entity);
    Q_UNUSED(clientId);
    Q_UNUSED(changes);
    return new Refused(SourceReply::Kind::Push,
                       QStringLiteral("this source does not accept local changes"), this);
}

SourceReply *Source::waitForChanges(const QHash<QString, QString> &since, int timeoutSeconds)
{
    Q_UNUSED(since);
    Q_UNUSED(timeoutSeconds);
    return new Refused(SourceReply::Kind::Wait,
                       QStringLiteral("this source does not tell of new changes"), this);
}

} // namespace BatchSync

#include "windowlayout.h"

#include "common/identifier.h"

#include <QSettings>

namespace BatchSync::Ui {

namespace {

const QString columnsGroup = QStringLiteral("layout/columns");

QString key(QLatin1String name)
{
    return QStringLiteral("layout/") + name;
}

} // namespace

WindowLayout WindowLayout::load(const QSettings &settings)
{
    WindowLayout layout;
    layout.geometry = settings.value(key(QLatin1String("geometry"))).toByteArray();
    layout.windowState = settings.value(key(QLatin1String("windowState"))).toByteArray();
    layout.splitterState = settings.value(key(QLatin1String("splitter"))).toByteArray();
    // QSettings cannot enter a group of a const object: read the keys by their full path.
    const QString prefix = columnsGroup + QLatin1Char('/');
    const QStringList keys = settings.allKeys();
    for (const QString &key : keys) {
        if (!key.startsWith(prefix))
            continue;
        const QString entity = key.mid(prefix.size());
        if (Identifier::matchesRule(entity))
            layout.columnStates.insert(entity, settings.value(key).toByteArray());
    }
    return layout;
}

WindowLayout WindowLayout::load()
{
    const QSettings settings;
    return load(settings);
}

void WindowLayout::save(QSettings &settings) const
{
    settings.setValue(key(QLatin1String("geometry")), geometry);
    settings.setValue(key(QLatin1String("windowState")), windowState);
    settings.setValue(key(QLatin1String("splitter")), splitterState);
    settings.remove(columnsGroup);
    for (auto it = columnStates.cbegin(); it != columnStates.cend(); ++it) {
        if (Identifier::matchesRule(it.key()))
            settings.setValue(columnsGroup + QLatin1Char('/') + it.key(), it.value());
    }
    settings.sync();
}

void WindowLayout::save() const
{
    QSettings settings;
    save(settings);
}

} // namespace BatchSync::Ui

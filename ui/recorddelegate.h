#pragma once

#include <QStyledItemDelegate>

namespace BatchSync::Ui {

/*!
    The data view's editors, by the column's field type (RecordModel::FieldTypeRole): a line
    edit that takes only a 64-bit whole number for int, only a number with '.' for real
    (either left empty: NULL), true / false / null for bool, a date and time in UTC to the
    millisecond for datetime, and text for string (an id may not be empty). Input the editor
    does not accept is never handed to the model. GUI thread.
*/
class RecordDelegate final : public QStyledItemDelegate
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordDelegate)

public:
    explicit RecordDelegate(QObject *parent = nullptr);

    QWidget *createEditor(QWidget *parent, const QStyleOptionViewItem &option,
                          const QModelIndex &index) const override;
    void setEditorData(QWidget *editor, const QModelIndex &index) const override;
    void setModelData(QWidget *editor, QAbstractItemModel *model,
                      const QModelIndex &index) const override;

    /*! The display format of the datetime editor (always UTC). */
    static QString dateTimeFormat();
};

} // namespace BatchSync::Ui

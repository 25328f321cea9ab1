#pragma once

#include "recordmodel.h"

#include <QSignalSpy>

namespace BatchSync::Test {

/*!
    Fetches every row of the data view model's query, as a view scrolling to the end would,
    waiting for each chunk from its worker; returns the row count, or -1 when the rows stop
    coming.
*/
inline int fetchAll(Ui::RecordModel *model)
{
    QSignalSpy fetched(model, &Ui::RecordModel::rowsFetched);
    while (model->isLoading() || model->canFetchMore({})) {
        model->fetchMore({});
        if (!fetched.wait(30000))
            return -1;
    }
    return model->rowCount();
}

} // namespace BatchSync::Test

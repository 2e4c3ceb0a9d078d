"""Coordinates for the server-rendered SVG charts (no JavaScript, no CDN)."""

from tasks_app.services.task_trends import TrendDay


def trend_chart(days: list[TrendDay], width: int = 600, height: int = 120) -> dict:
    """Per day a bar of tasks created and one of tasks completed, and a line of overdue tasks."""
    peak = max((max(d.created, d.completed, d.overdue or 0) for d in days), default=0) or 1
    step = width / len(days)
    bar = max(step / 2 - 1, 1)

    def y(value: int) -> float:
        return round(height - height * value / peak, 1)

    columns, line = [], []
    for n, day in enumerate(days):
        x = n * step
        columns.append(
            {
                "day": day,
                "created_x": round(x, 1),
                "completed_x": round(x + step / 2, 1),
                "w": round(bar, 1),
                "created_y": y(day.created),
                "created_h": round(height - y(day.created), 1),
                "completed_y": y(day.completed),
                "completed_h": round(height - y(day.completed), 1),
            }
        )
        if day.overdue is not None:
            line.append(f"{round(x + step / 2, 1)},{y(day.overdue)}")
    has_data = any(d.created or d.completed or d.overdue is not None for d in days)
    return {
        "columns": columns,
        "overdue_points": " ".join(line),
        "width": width,
        "height": height,
        "peak": peak,
        "has_data": has_data,
    }

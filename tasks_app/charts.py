"""Coordinates for the server-rendered SVG charts (no JavaScript, no CDN)."""

from tasks_app.services.task_trends import TrendDay


def trend_chart(days: list[TrendDay], width: int = 600, height: int = 120) -> dict:
    """Per day a bar of tasks created, one of tasks completed, and a dot on the line of overdue tasks."""
    peak = max((max(d.created, d.completed, d.overdue or 0) for d in days), default=0) or 1
    step = width / len(days)

    def y(value: int) -> float:
        return round(height - height * value / peak, 1)

    # Coordinates as the SVG prints them (str() of the rounded float, which is what the template
    # printed of the number): localizing some 300 numbers was half of the chart's drawing time.
    columns = []
    for n, day in enumerate(days):
        middle = round(n * step + step / 2, 1)
        columns.append(
            {
                "day": day,
                "date": day.day.isoformat(),
                "created_x": str(round(n * step, 1)),
                "middle_x": str(middle),
                "w": str(round(max(step / 2 - 1, 1), 1)),
                "created_y": str(y(day.created)),
                "created_h": str(round(height - y(day.created), 1)),
                "completed_y": str(y(day.completed)),
                "completed_h": str(round(height - y(day.completed), 1)),
                "overdue_y": None if day.overdue is None else str(y(day.overdue)),
            }
        )
    line = " ".join(f"{c['middle_x']},{c['overdue_y']}" for c in columns if c["overdue_y"] is not None)
    return {
        "columns": columns,
        "overdue_points": line,
        "width": width,
        "height": height,
        "peak": peak,
        "has_data": any(d.created or d.completed or d.overdue for d in days),
    }

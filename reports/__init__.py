"""Night model, HTML report, treatment-response statistics, export and evaluation."""

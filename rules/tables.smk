# Run outputs → one CSV per run group → LaTeX tables (booktabs) with the same numbers as CSV.
# These light jobs run inside Snakemake (robustrepro.inprocess), not as a Python process each.


rule collect:
    input:
        group_run_files,
    output:
        paths.group_csv("{scale}", "{paper}", "{group}"),
    log:
        paths.log("{scale}", "collect", "{paper}-{group}"),
    localrule: True
    params:
        seeds=PIPELINE.seeds,
    run:
        in_process(log[0], light_jobs.group_csv, PAPERS[wildcards.paper], wildcards.group, wildcards.scale,
                   params.seeds, output[0])


rule table:
    input:
        unpack(target_inputs("table")),
    output:
        tex=paths.target_file("{scale}", "{paper}", "{target}", ".tex"),
        csv=report(
            paths.target_file("{scale}", "{paper}", "{target}", ".csv"),
            caption="../workflow/report/target.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "{target}", "kind": "table"},
        ),
    log:
        paths.log("{scale}", "targets", "{paper}-{target}"),
    localrule: True
    wildcard_constraints:
        target=TARGET_NAMES["table"],
    params:
        caption=caption_of,
    run:
        in_process(log[0], light_jobs.target, PAPERS[wildcards.paper], wildcards.target, wildcards.scale, *input.images)

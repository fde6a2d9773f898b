# Figures: PDF and PNG from one matplotlib style, plus the plotted numbers as CSV (built inside
# Snakemake, robustrepro.inprocess).


rule figure:
    input:
        unpack(target_inputs("figure")),
    output:
        pdf=paths.target_file("{scale}", "{paper}", "{target}", ".pdf"),
        png=report(
            paths.target_file("{scale}", "{paper}", "{target}", ".png"),
            caption="../workflow/report/target.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "{target}", "kind": "figure"},
        ),
        csv=paths.target_file("{scale}", "{paper}", "{target}", ".csv"),
    log:
        paths.log("{scale}", "targets", "{paper}-{target}"),
    localrule: True
    wildcard_constraints:
        target=TARGET_NAMES["figure"],
    params:
        caption=caption_of,
    run:
        in_process(log[0], light_jobs.target, PAPERS[wildcards.paper], wildcards.target, wildcards.scale, *input.images)

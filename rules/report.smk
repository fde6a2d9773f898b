# Reported vs reproduced numbers with the claims checked, and an index of every target (both
# built inside Snakemake, robustrepro.inprocess).


rule comparison:
    input:
        paper_groups,
    output:
        tex=paths.target_file("{scale}", "{paper}", "comparison", ".tex"),
        csv=report(
            paths.target_file("{scale}", "{paper}", "comparison", ".csv"),
            caption="../workflow/report/comparison.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "comparison", "kind": "table"},
        ),
        claims=report(
            paths.target_file("{scale}", "{paper}", "claims", ".csv"),
            caption="../workflow/report/claims.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "claims", "kind": "table"},
        ),
        claims_tex=paths.target_file("{scale}", "{paper}", "claims", ".tex"),
    log:
        paths.log("{scale}", "targets", "{paper}-comparison"),
    localrule: True
    run:
        in_process(log[0], light_jobs.comparison, PAPERS[wildcards.paper], wildcards.scale, list(input))


rule runs:
    output:
        report(
            paths.target_file("{scale}", "{paper}", "runs", ".csv"),
            caption="../workflow/report/runs.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "runs", "kind": "table"},
        ),
    log:
        paths.log("{scale}", "targets", "{paper}-runs"),
    localrule: True
    params:
        seeds=PIPELINE.seeds,
        # The runs' ids hash their settings: a changed setting rebuilds the table.
        ids=one_line_errors(lambda wildcards: PIPELINE.run_ids(wildcards.scale, wildcards.paper)),
    run:
        in_process(log[0], light_jobs.runs_csv, PAPERS[wildcards.paper], wildcards.scale, params.seeds, output[0])


rule index:
    input:
        one_line_errors(lambda wildcards: all_targets(wildcards.scale).files()),
    output:
        paths.index("{scale}"),
    log:
        paths.log("{scale}", "index", "index"),
    localrule: True
    params:
        # Targets left out for missing data, with why: the index lists them.
        skipped=lambda wildcards: all_targets(wildcards.scale).all_skipped(),
    run:
        in_process(log[0], light_jobs.index, list(PAPERS.values()), wildcards.scale, output[0], params.skipped)


# One document per paper and scale: every built target with its caption, the comparison and claims,
# what was run and the readings (robustrepro.report.paper_report), compiled where pdflatex is.
rule paper_report:
    input:
        one_line_errors(lambda wildcards: all_targets(wildcards.scale).report_inputs(wildcards.paper)),
    output:
        paths.target_file("{scale}", "{paper}", "report", ".tex"),
    log:
        paths.log("{scale}", "targets", "{paper}-report"),
    localrule: True
    params:
        skipped=lambda wildcards: all_targets(wildcards.scale).skipped(wildcards.paper),
    run:
        in_process(log[0], light_jobs.paper_report, PAPERS[wildcards.paper], wildcards.scale, output[0], params.skipped)


rule report_pdf:
    input:
        paths.target_file("{scale}", "{paper}", "report", ".tex"),
    conda:
        ENV
    output:
        report(
            paths.target_file("{scale}", "{paper}", "report", ".pdf"),
            caption="../workflow/report/paper_report.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "report", "kind": "document"},
        ),
    log:
        paths.log("{scale}", "targets", "{paper}-report-pdf"),
    localrule: True
    params:
        folder=lambda wildcards, input: input[0].rsplit("/", 1)[0],
    # pdflatex's .aux and .log go to a scratch folder, so the paper's folder holds the PDF only
    # (its output is the job's log).
    shell:
        "(cd {params.folder:q} && scratch=$(mktemp -d) && trap 'rm -rf \"$scratch\"' EXIT"
        " && pdflatex -interaction=nonstopmode -halt-on-error -output-directory \"$scratch\" report.tex"
        " && mv \"$scratch/report.pdf\" report.pdf) > {log:q} 2>&1"
